"""The project's own English word lists for generated sentences (no copyrighted text).

Chosen for everyday vocabulary and a wide spread of English sounds: clusters
(str-, spl-, -ngths), both "th" sounds, "zh", affricates, r-coloured vowels.
"""

from __future__ import annotations

# (singular, plural)
NOUNS = [
    ("apple", "apples"), ("anchor", "anchors"), ("badge", "badges"), ("basket", "baskets"),
    ("beach", "beaches"), ("bicycle", "bicycles"), ("blanket", "blankets"), ("bottle", "bottles"),
    ("bridge", "bridges"), ("brother", "brothers"), ("bucket", "buckets"), ("butcher", "butchers"),
    ("cabin", "cabins"), ("camera", "cameras"), ("candle", "candles"), ("canyon", "canyons"),
    ("carpet", "carpets"), ("castle", "castles"), ("chair", "chairs"), ("cheese", "cheeses"),
    ("cherry", "cherries"), ("chimney", "chimneys"), ("choir", "choirs"), ("church", "churches"),
    ("cliff", "cliffs"), ("clock", "clocks"), ("cloud", "clouds"), ("coat", "coats"),
    ("compass", "compasses"), ("cottage", "cottages"), ("cousin", "cousins"), ("crayon", "crayons"),
    ("crystal", "crystals"), ("cushion", "cushions"), ("daughter", "daughters"),
    ("desert", "deserts"), ("diamond", "diamonds"), ("doctor", "doctors"), ("dolphin", "dolphins"),
    ("dragon", "dragons"), ("drawer", "drawers"), ("drum", "drums"), ("engine", "engines"),
    ("envelope", "envelopes"), ("farmer", "farmers"), ("feather", "feathers"), ("fence", "fences"),
    ("festival", "festivals"), ("fisherman", "fishermen"), ("flower", "flowers"),
    ("forest", "forests"), ("fountain", "fountains"), ("garage", "garages"), ("garden", "gardens"),
    ("giraffe", "giraffes"), ("glove", "gloves"), ("guitar", "guitars"), ("hammer", "hammers"),
    ("harbour", "harbours"), ("helmet", "helmets"), ("island", "islands"), ("jacket", "jackets"),
    ("jewel", "jewels"), ("journey", "journeys"), ("judge", "judges"), ("kettle", "kettles"),
    ("kitchen", "kitchens"), ("kitten", "kittens"), ("ladder", "ladders"), ("lantern", "lanterns"),
    ("lawyer", "lawyers"), ("leather", "leathers"), ("lemon", "lemons"), ("letter", "letters"),
    ("library", "libraries"), ("lighthouse", "lighthouses"), ("lizard", "lizards"),
    ("machine", "machines"), ("magazine", "magazines"), ("measure", "measures"),
    ("melody", "melodies"), ("mirror", "mirrors"), ("monkey", "monkeys"), ("mountain", "mountains"),
    ("museum", "museums"), ("needle", "needles"), ("neighbour", "neighbours"), ("notebook", "notebooks"),
    ("orange", "oranges"), ("orchestra", "orchestras"), ("oven", "ovens"), ("owl", "owls"),
    ("painter", "painters"), ("parcel", "parcels"), ("pebble", "pebbles"), ("pencil", "pencils"),
    ("penguin", "penguins"), ("pillow", "pillows"), ("pilot", "pilots"), ("planet", "planets"),
    ("plumber", "plumbers"), ("pocket", "pockets"), ("puzzle", "puzzles"), ("rabbit", "rabbits"),
    ("radio", "radios"), ("river", "rivers"), ("rocket", "rockets"), ("saddle", "saddles"),
    ("sailor", "sailors"), ("sandwich", "sandwiches"), ("scarf", "scarves"), ("scissors", "scissors"),
    ("shadow", "shadows"), ("sheep", "sheep"), ("shelf", "shelves"), ("shepherd", "shepherds"),
    ("shoe", "shoes"), ("singer", "singers"), ("sister", "sisters"), ("soldier", "soldiers"),
    ("spider", "spiders"), ("squirrel", "squirrels"), ("stadium", "stadiums"), ("statue", "statues"),
    ("strawberry", "strawberries"), ("stranger", "strangers"), ("street", "streets"),
    ("student", "students"), ("suitcase", "suitcases"), ("sweater", "sweaters"), ("table", "tables"),
    ("teacher", "teachers"), ("telephone", "telephones"), ("thimble", "thimbles"),
    ("thunderstorm", "thunderstorms"), ("ticket", "tickets"), ("tiger", "tigers"),
    ("toothbrush", "toothbrushes"), ("tower", "towers"), ("tractor", "tractors"),
    ("treasure", "treasures"), ("trumpet", "trumpets"), ("tunnel", "tunnels"), ("turtle", "turtles"),
    ("umbrella", "umbrellas"), ("valley", "valleys"), ("vase", "vases"), ("village", "villages"),
    ("violin", "violins"), ("wagon", "wagons"), ("wallet", "wallets"), ("weather", "weathers"),
    ("whale", "whales"), ("whistle", "whistles"), ("window", "windows"), ("wizard", "wizards"),
    ("wolf", "wolves"), ("yacht", "yachts"), ("zebra", "zebras"), ("zipper", "zippers"),
]

# (base, third person, past)
VERBS = [
    ("borrow", "borrows", "borrowed"), ("bring", "brings", "brought"), ("build", "builds", "built"),
    ("buy", "buys", "bought"), ("carry", "carries", "carried"), ("catch", "catches", "caught"),
    ("change", "changes", "changed"), ("choose", "chooses", "chose"), ("clean", "cleans", "cleaned"),
    ("climb", "climbs", "climbed"), ("collect", "collects", "collected"),
    ("cover", "covers", "covered"), ("describe", "describes", "described"),
    ("discover", "discovers", "discovered"), ("draw", "draws", "drew"), ("drop", "drops", "dropped"),
    ("examine", "examines", "examined"), ("fetch", "fetches", "fetched"), ("find", "finds", "found"),
    ("fix", "fixes", "fixed"), ("follow", "follows", "followed"), ("forget", "forgets", "forgot"),
    ("gather", "gathers", "gathered"), ("grab", "grabs", "grabbed"), ("guard", "guards", "guarded"),
    ("hide", "hides", "hid"), ("hold", "holds", "held"), ("imagine", "imagines", "imagined"),
    ("inspect", "inspects", "inspected"), ("judge", "judges", "judged"), ("keep", "keeps", "kept"),
    ("lift", "lifts", "lifted"), ("measure", "measures", "measured"), ("mend", "mends", "mended"),
    ("move", "moves", "moved"), ("notice", "notices", "noticed"), ("open", "opens", "opened"),
    ("paint", "paints", "painted"), ("pack", "packs", "packed"), ("photograph", "photographs",
    "photographed"), ("polish", "polishes", "polished"), ("prepare", "prepares", "prepared"),
    ("protect", "protects", "protected"), ("pull", "pulls", "pulled"), ("push", "pushes", "pushed"),
    ("question", "questions", "questioned"), ("reach", "reaches", "reached"),
    ("remember", "remembers", "remembered"), ("repair", "repairs", "repaired"),
    ("rescue", "rescues", "rescued"), ("return", "returns", "returned"), ("sell", "sells", "sold"),
    ("send", "sends", "sent"), ("share", "shares", "shared"), ("shake", "shakes", "shook"),
    ("sketch", "sketches", "sketched"), ("smash", "smashes", "smashed"), ("squeeze", "squeezes",
    "squeezed"), ("steal", "steals", "stole"), ("stretch", "stretches", "stretched"),
    ("study", "studies", "studied"), ("swap", "swaps", "swapped"), ("taste", "tastes", "tasted"),
    ("throw", "throws", "threw"), ("touch", "touches", "touched"), ("treasure", "treasures",
    "treasured"), ("twist", "twists", "twisted"), ("unwrap", "unwraps", "unwrapped"),
    ("visit", "visits", "visited"), ("wash", "washes", "washed"), ("watch", "watches", "watched"),
    ("weigh", "weighs", "weighed"), ("wrap", "wraps", "wrapped"), ("wreck", "wrecks", "wrecked"),
]

# intransitive (base, past)
MOTIONS = [
    ("wander", "wandered"), ("hurry", "hurried"), ("stroll", "strolled"), ("run", "ran"),
    ("swim", "swam"), ("drift", "drifted"), ("march", "marched"), ("crawl", "crawled"),
    ("jog", "jogged"), ("sprint", "sprinted"), ("travel", "travelled"), ("stumble", "stumbled"),
    ("glide", "glided"), ("leap", "leapt"), ("rush", "rushed"), ("tiptoe", "tiptoed"),
]

ADJECTIVES = [
    "ancient", "angry", "awkward", "beautiful", "bitter", "bright", "brilliant", "broken",
    "busy", "careful", "cheerful", "chilly", "clever", "clumsy", "crooked", "curious", "damp",
    "dazzling", "delicate", "dusty", "eager", "elegant", "empty", "enormous", "fragile",
    "friendly", "frozen", "gentle", "gigantic", "gloomy", "golden", "graceful", "grumpy",
    "handsome", "heavy", "hollow", "humble", "hungry", "icy", "jealous", "jolly", "lazy",
    "little", "lonely", "loud", "lucky", "magnificent", "muddy", "mysterious", "narrow",
    "nervous", "noisy", "odd", "orange", "peaceful", "plump", "polite", "precious", "proud",
    "purple", "quiet", "rough", "rusty", "scarlet", "shiny", "silver", "sleepy", "slippery",
    "smooth", "splendid", "stubborn", "sturdy", "strange", "thirsty", "thoughtful", "tidy",
    "tiny", "tired", "twisted", "unusual", "vast", "velvet", "warm", "wealthy", "wet", "wild",
    "wise", "wooden", "worried", "yellow", "young", "zealous",
]

ADVERBS = [
    "quickly", "slowly", "quietly", "carefully", "suddenly", "eagerly", "gently", "happily",
    "nervously", "proudly", "rarely", "bravely", "calmly", "clumsily", "softly", "loudly",
    "patiently", "secretly", "smoothly", "thoroughly", "boldly", "cheerfully", "politely",
    "anxiously", "gracefully", "lazily", "warmly", "wisely",
]

NAMES = [
    "Agnes", "Arthur", "Beatrice", "Boris", "Charlotte", "Desmond", "Edith", "Felix", "Georgia",
    "Harold", "Imogen", "Jasper", "Judith", "Kenneth", "Lucy", "Marcus", "Nadia", "Oscar",
    "Penelope", "Quentin", "Rosalind", "Stanley", "Thelma", "Ursula", "Victor", "Wendy",
    "Xavier", "Yvonne", "Zachary", "Gregory", "Heather", "Timothy", "Sophia", "Vivian",
    "Jeremy", "Martha", "Theodore", "Florence", "Rupert", "Priya",
]

PLACES = [
    "the old market", "the railway station", "the village square", "the north shore",
    "the museum garden", "the riverside path", "the public library", "the harbour wall",
    "the city centre", "the mountain cabin", "the school playground", "the empty theatre",
    "the bakery", "the farmhouse", "the hospital", "the airport", "the lighthouse",
    "the concert hall", "the botanical garden", "the fishing village", "the castle gate",
    "the supermarket", "the youth club", "the chemistry lab",
]

PREPOSITIONS = [
    "beside", "behind", "under", "above", "near", "inside", "beneath", "across", "through",
    "towards", "without", "beyond", "around", "along",
]

TIMES = [
    "this morning", "last night", "yesterday", "at dawn", "before lunch", "after supper",
    "on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday",
    "on Sunday", "in January", "in February", "in March", "in April", "in June", "in July",
    "in August", "in September", "in October", "in November", "in December", "at midnight",
    "every autumn", "last summer", "next spring", "during the winter", "at noon",
]

NUMBERS = [
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fifteen", "twenty", "thirty", "forty", "fifty", "a hundred", "a thousand",
    "several", "a few", "a dozen", "many",
]
