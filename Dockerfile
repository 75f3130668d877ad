# The service image: pip only, no system speech packages (espeak-ng comes from a wheel).
# The wheel installs the library (voiceadapt); the service runs from /app/server. No training
# code is copied in.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY voiceadapt ./voiceadapt
RUN pip install --no-cache-dir '.[server,scale]'
COPY server ./server
ENV PYTHONPATH=/app
EXPOSE 8000
CMD ["python", "-m", "server", "serve", "--host", "0.0.0.0", "--port", "8000"]
