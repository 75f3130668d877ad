# The service image: pip only, no system speech packages (espeak-ng comes from a wheel).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY voiceadapt ./voiceadapt
COPY server ./server
COPY training ./training
RUN pip install --no-cache-dir '.[scale]'
EXPOSE 8000
CMD ["voiceadapt", "serve", "--host", "0.0.0.0", "--port", "8000"]
