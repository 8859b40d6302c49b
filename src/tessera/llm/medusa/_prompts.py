"""Prompts for self-distillation, built from lists shipped here (nothing is downloaded).

Every prompt is a template filled with a topic. Each kind of request (explain, how-to,
tips, compare, stories and poems, e-mails, definitions, arithmetic word problems, Python
tasks, summaries and rewrites, advice, factual questions) has its own topic list; every
fifth topic of each list is held out, so no held-out topic ever appears in a training
prompt and the held-out accuracy of Medusa heads measures prompts on unseen subjects.

Training prompts also use a second set of templates (``_MORE``) that held-out prompts never
use, and topics added later go at the end of their lists: more training data never changes
the held-out prompts the benchmark and the shipped heads' accuracies were measured on.
"""

from __future__ import annotations

import math
import random
from typing import TypeVar

from tessera._validation import bad_value, check_positive_int

__all__ = ["heldout_count", "heldout_prompts", "training_prompts"]

_HELDOUT_EVERY = 5
#: Held-out prompts that measure heads trained on all the training prompts.
FULL_HELDOUT = 64
#: The fewest held-out prompts a quick try is measured on (one or two per kind of request).
QUICK_HELDOUT = 16

# fmt: off
_CONCEPTS = (
    "photosynthesis", "gravity", "inflation", "machine learning", "the water cycle", "black holes",
    "vaccines", "compound interest", "plate tectonics", "DNA", "blockchain", "the immune system",
    "climate change", "supply and demand", "electricity", "the internet", "evolution", "recursion",
    "the stock market", "magnetism", "nuclear fusion", "encryption", "the greenhouse effect",
    "democracy", "antibiotics", "solar panels", "the moon's phases", "rainbows", "sleep",
    "memory in the brain", "cloud computing", "the French Revolution", "volcanoes", "tides",
    "probability", "the speed of light", "taxes", "neural networks", "earthquakes", "batteries",
    "operating systems", "the placebo effect", "ocean currents", "opportunity cost", "viruses",
    "quantum computing", "friction", "the Roman Empire", "sound waves", "hash tables",
    "interest rates", "the heart", "glaciers", "fermentation", "satellites", "the periodic table",
    "photosynthesis in the ocean", "wind turbines", "the printing press", "coral reefs",
    "the human eye", "compilers", "carbon dating", "migration of birds", "the Silk Road",
    "thunderstorms", "genetic engineering", "renewable energy", "the nervous system",
    "public transport", "deserts", "the Industrial Revolution", "microplastics",
    "the Pythagorean theorem", "3D printing",
)
_TASKS = (
    "bake bread at home", "learn a new language", "start running", "save money each month",
    "write a resume", "grow tomatoes", "fix a flat bicycle tire", "make cold brew coffee",
    "prepare for a job interview", "organize my closet", "start a vegetable garden",
    "learn to play guitar", "improve my handwriting", "back up my computer",
    "train a puppy to sit", "clean a cast iron pan", "write a cover letter", "meditate",
    "set up a budget", "make new friends in a new city", "paint a room", "change a car tire",
    "study for an exam", "cook rice without a rice cooker", "reduce screen time",
    "plan a road trip", "learn to swim as an adult", "keep houseplants alive",
    "give a good presentation", "make a paper airplane", "start journaling", "negotiate a salary",
    "write a thank-you note", "brew tea properly", "declutter my desk",
    "make homemade pizza", "repot a plant", "write a short speech", "learn touch typing",
    "set up a home Wi-Fi network", "make a weekly meal plan", "sew on a button",
    "start a podcast", "build a birdhouse", "memorize a poem", "wash a wool sweater",
    "plan a birthday party", "take care of a goldfish", "make a smoothie", "fold a fitted sheet",
)
_ACTIVITIES = (
    "staying focused while working from home", "traveling on a budget", "taking better photos",
    "writing clear emails", "eating healthier", "sleeping better", "learning to code",
    "public speaking", "running a marathon", "hosting a dinner party", "reading more books",
    "camping in the rain", "managing stress", "learning math", "moving to a new apartment",
    "keeping a small team motivated", "studying effectively", "drawing portraits",
    "saving energy at home", "writing a novel", "staying safe while hiking", "job hunting",
    "teaching kids about money", "cooking for one", "keeping a long-distance friendship",
    "remote team meetings", "gardening on a balcony", "learning chess", "writing poetry",
    "cycling to work", "baking with kids", "making a podcast", "volunteering",
    "keeping a tidy kitchen", "learning to draw",
)
_PAIRS = (
    ("cats", "dogs"), ("tea", "coffee"), ("Python", "JavaScript"), ("renting", "buying a home"),
    ("trains", "planes"), ("summer", "winter"), ("books", "movies"), ("stocks", "bonds"),
    ("electric cars", "gasoline cars"), ("viruses", "bacteria"), ("weather", "climate"),
    ("email", "instant messaging"), ("running", "swimming"), ("paper books", "e-readers"),
    ("the sun", "the moon"), ("frogs", "toads"), ("lists", "tuples in Python"),
    ("baking", "frying"), ("cities", "the countryside"), ("weights", "cardio"),
    ("SQL", "NoSQL databases"), ("violins", "cellos"), ("democracy", "monarchy"),
    ("laptops", "desktop computers"), ("rivers", "lakes"), ("butter", "olive oil"),
    ("chess", "checkers"), ("wind power", "solar power"), ("mountains", "beaches"),
    ("a credit card", "a debit card"),
    ("jogging", "walking"), ("pens", "pencils"), ("apples", "oranges"),
    ("podcasts", "audiobooks"), ("bicycles", "scooters"), ("rice", "pasta"),
    ("letters", "emails"), ("Linux", "Windows"), ("museums", "zoos"), ("owls", "hawks"),
)
_SUBJECTS = (
    "a robot who learns to paint", "a lighthouse keeper", "a lost kitten",
    "the first day of spring", "a dragon who is afraid of fire", "an old oak tree",
    "a city at night", "a time traveler", "the ocean", "a friendship between a fox and a crow",
    "a rainy afternoon", "a tiny astronaut", "a baker who never sleeps", "autumn leaves",
    "a secret garden", "a train journey", "a clock that runs backwards", "a snowman in July",
    "a brave mouse", "the last library on Earth", "a musician on the street", "a moonlit lake",
    "a girl who talks to birds", "a haunted kitchen", "mountains at sunrise", "a village festival",
    "a shy giant", "the smell of coffee", "a message in a bottle", "a forgotten toy",
    "a robot chef", "a lonely whale", "a garden gnome who travels", "the first snow of winter",
    "a detective cat", "a kite that wants to fly higher", "an island of talking birds",
    "a grandmother's recipe book", "a bus driver's last day", "a star that fell to Earth",
)
_EMAILS = (
    ("my manager", "asking for a day off"), ("a landlord", "a broken heater"),
    ("a teacher", "my child's absence"), ("a colleague", "rescheduling a meeting"),
    ("a customer", "a delayed order"), ("a friend", "a birthday party invitation"),
    ("a neighbor", "a noisy party"), ("a client", "an overdue invoice"),
    ("my team", "a new project kickoff"), ("a hotel", "a room reservation"),
    ("a professor", "an extension for an essay"), ("a recruiter", "accepting a job offer"),
    ("a store", "returning a damaged item"), ("a coworker", "thanks for their help"),
    ("the city council", "a broken streetlight"),
    ("my dentist", "moving my appointment"), ("a supplier", "a price change"),
    ("my landlord", "renewing the lease"), ("a new teammate", "welcoming them"),
    ("the school", "a parent-teacher meeting"),
)
_WORDS = (
    "serendipity", "ephemeral", "resilience", "algorithm", "empathy", "metaphor", "paradox",
    "ubiquitous", "nostalgia", "entropy", "catalyst", "hypothesis", "frugal", "verbose",
    "meticulous", "ambiguous", "diligent", "eloquent", "pragmatic", "photosynthetic", "benevolent",
    "candid", "latency", "bandwidth", "ecosystem", "inertia", "irony", "mitigate", "nuance",
    "obsolete", "quarantine", "redundant", "tenacious", "vivid", "whimsical",
    "curious", "gregarious", "sustainable", "momentum", "incentive", "analogy", "threshold",
    "empirical", "altruism", "versatile",
)
_MATH = (
    ("apples", "buys", "baskets"), ("pencils", "packs", "boxes"), ("marbles", "collects", "bags"),
    ("cookies", "bakes", "trays"), ("stickers", "gets", "sheets"), ("books", "orders", "crates"),
    ("eggs", "buys", "cartons"), ("oranges", "picks", "crates"), ("cards", "collects", "packs"),
    ("bottles", "fills", "cases"), ("tickets", "sells", "rolls"), ("flowers", "plants", "rows"),
    ("shells", "finds", "buckets"), ("candles", "makes", "boxes"),
    ("balloons", "inflates", "bunches"),
)
_NAMES = (
    "Maria", "Tom", "Aisha", "Ken", "Lena", "Omar", "Sofia", "Raj",
)
_CODE = (
    "reverses a string", "checks whether a number is prime", "counts the vowels in a string",
    "returns the factorial of n", "finds the largest number in a list",
    "removes duplicates from a list while keeping order", "checks whether a word is a palindrome",
    "computes the nth Fibonacci number", "merges two sorted lists", "flattens a nested list",
    "counts how often each word appears in a sentence", "converts Celsius to Fahrenheit",
    "returns the sum of the digits of an integer", "sorts a list of dictionaries by a key",
    "checks whether two strings are anagrams", "finds the second smallest number in a list",
    "reads a text file and counts its lines", "returns the common elements of two lists",
    "capitalizes the first letter of every word", "computes the average of a list of numbers",
    "checks whether a year is a leap year", "generates a random password",
    "converts a binary string to an integer", "finds the longest word in a sentence",
    "splits a list into chunks of size n",
    "checks whether a list is sorted", "rotates a list by k positions",
    "counts the words in a string", "finds the median of a list",
    "removes all whitespace from a string", "returns the greatest common divisor of two numbers",
    "checks whether a string contains only digits", "transposes a matrix given as a list of lists",
    "groups words by their first letter", "computes the running total of a list",
)
_PARAGRAPHS = (
    "The town library opened a new reading room last month. It has large windows, soft chairs "
    "and a corner for children. Visitors say it is now the quietest place in town.",
    "Bees visit flowers to collect nectar and pollen. While they move from flower to flower, "
    "they carry pollen that helps plants make seeds. Without bees, many crops would fail.",
    "Our team finished the project two days early. We split the work into small parts, met "
    "every morning for ten minutes, and fixed problems as soon as we found them.",
    "Walking for thirty minutes a day can improve your mood and your heart health. It needs "
    "no equipment and can be done almost anywhere, which makes it easy to keep up.",
    "The bakery on Main Street sells out of bread by noon. The owner starts baking at four in "
    "the morning and uses a recipe that has been in her family for three generations.",
    "Rivers carry soil from mountains to the sea. Over thousands of years this soil builds up "
    "at the river's mouth and forms a delta, a flat area of rich land.",
    "The new phone has a bigger screen and a longer battery life, but it is heavier and more "
    "expensive than the old model. Reviewers disagree about whether it is worth the price.",
    "Many people learn a language faster when they practice a little every day instead of "
    "studying for hours once a week. Short, regular sessions help memory.",
    "The museum's dinosaur exhibit reopened after repairs. A new skeleton stands in the main "
    "hall, and a screen shows how scientists dig up and clean fossils.",
    "Recycling paper saves trees, water and energy. Paper can be recycled five to seven times "
    "before its fibers become too short to use.",
)
_SITUATIONS = (
    "I feel overwhelmed by my to-do list", "my roommate never cleans the kitchen",
    "I want to change careers but I am scared", "I keep procrastinating on my thesis",
    "I forgot my friend's birthday", "I have trouble waking up in the morning",
    "my coworker takes credit for my work", "I want to get fit but I have no time",
    "I am nervous about my first day at a new job", "I spend too much money on takeout",
    "my neighbor's dog barks all night", "I can't decide which college to choose",
    "I feel lonely after moving", "my code review comments were harsh",
    "I want to ask for a raise", "I have too many unread emails", "my plants keep dying",
    "I get distracted by my phone while studying", "I disagree with my boss about a project",
    "I want to read more but never find the time",
    "my sister borrowed money and has not paid it back", "I feel tired every afternoon",
    "my team missed a deadline", "I want to learn to cook but I burn everything",
    "my friend always cancels plans", "I am bored with my job",
    "my kid does not want to read", "I feel anxious before exams",
    "I have a long commute", "I want to eat less sugar",
)
_QUESTIONS = (
    "What is the capital of Australia?", "How many planets are in the solar system?",
    "Who wrote Romeo and Juliet?", "What is the boiling point of water at sea level?",
    "What is the largest ocean on Earth?", "How many legs does a spider have?",
    "What gas do plants absorb from the air?", "What is the tallest mountain in the world?",
    "Who painted the Mona Lisa?", "What is the chemical symbol for gold?",
    "How many continents are there?", "What is the longest river in Africa?",
    "What language is spoken in Brazil?", "What is the freezing point of water in Fahrenheit?",
    "Which planet is known as the Red Planet?", "How many days are in a leap year?",
    "What is the hardest natural substance?", "Who invented the telephone?",
    "What is the largest mammal?", "What is the square root of 144?",
    "How many bones are in the adult human body?", "What is the smallest prime number?",
    "Which organ pumps blood through the body?", "What currency is used in Japan?",
    "How many minutes are in a day?",
    "What is the largest desert in the world?", "How many strings does a violin have?",
    "Who discovered penicillin?", "What is the capital of Canada?",
    "How many hours are in a week?", "What is the main ingredient of guacamole?",
    "Which planet has the most moons?", "What is the fastest land animal?",
    "How many sides does a hexagon have?", "What language has the most native speakers?",
)
_T_EXPLAIN = (
    "Explain {} simply.", "What is {} and why does it matter?",
    "Can you explain {} to a ten-year-old?", "Give me a short overview of {}.",
    "What are the most common misconceptions about {}?", "Why is {} important?",
    "Tell me three interesting facts about {}.",
)
_T_HOWTO = (
    "How do I {}?", "What is the best way to {}?", "Give me step-by-step instructions to {}.",
    "What mistakes should a beginner avoid when trying to {}?", "I want to {}. Where do I start?",
)
_T_TIPS = (
    "List {n} tips for {}.", "What are {n} good tips for {}?",
    "Give me {n} quick dos and don'ts for {}.",
)
_T_COMPARE = (
    "Compare {} and {}.", "What are the main differences between {} and {}?",
    "Which is better, {} or {}? Give pros and cons.", "What do {} and {} have in common?",
)
_T_CREATIVE = (
    "Write a short story about {}.", "Write a short poem about {}.", "Write a haiku about {}.",
    "Describe {} in three sentences.", "Write a limerick about {}.",
    "Write the opening paragraph of a novel about {}.",
)
_T_EMAIL = (
    "Write a short email to {} about {}.", "Draft a polite message to {} about {}.",
    "Write a short, friendly text message to {} about {}.",
)
_T_DEFINE = (
    "Define the word '{}'.", "What does '{}' mean? Use it in a sentence.",
    "Give me three synonyms for '{}' and explain how they differ.",
)
_T_CODE = (
    "Write a Python function that {}.", "Show me short Python code that {}, with a comment.",
    "Write a Python function that {} and add two test cases.",
    "Explain how to write a Python function that {}, then show it.",
)
_T_PARAGRAPH = (
    "Summarize this paragraph in one sentence: {}", "Rewrite this paragraph in simpler words: {}",
    "Give this paragraph a title: {}", "List the key facts in this paragraph: {}",
)
_T_ADVICE = (
    "{}. What should I do?", "Give me advice: {}.", "{}. How can I handle this calmly?",
)
_T_TRIVIA = (
    "{}", "Answer briefly: {}", "{} Explain your answer in one sentence.",
    "Quiz question: {} Give the answer and a fun fact.",
)
# Templates used for training prompts only (added for more self-distilled answers; the
# held-out prompts, and so the benchmark's, keep the templates above).
_MORE: dict[str, tuple[str, ...]] = {
    "explain": (
        "How does {} work?", "Explain {} with an everyday analogy.",
        "Write a short quiz with three questions about {}.", "What should everyone know about {}?",
    ),
    "howto": (
        "How can I {} quickly?", "Explain how to {} in five steps.",
        "What do I need before I {}?", "Write a checklist for someone who wants to {}.",
    ),
    "tips": ("Share {n} habits that help with {}.", "What are {n} common mistakes in {}?"),
    "compare": (
        "Explain the difference between {} and {} in a short table.",
        "Write a short dialogue where two friends debate {} versus {}.",
        "When should someone choose {} over {}?",
    ),
    "creative": (
        "Write a bedtime story about {}.", "Write a funny short scene about {}.",
        "Write a song chorus about {}.", "Write a diary entry about {}.",
    ),
    "email": (
        "Write a formal letter to {} about {}.",
        "Write a follow-up email to {} about {}, since I got no reply.",
    ),
    "define": (
        "Where does the word '{}' come from?", "Write two example sentences with '{}'.",
        "What is the opposite of '{}'? Explain briefly.",
    ),
    "code": (
        "Write a JavaScript function that {}.",
        "Write a Python function that {}, with type hints and a docstring.",
        "What is the time complexity of a Python function that {}? Show the code.",
    ),
    "paragraph": (
        "Turn this paragraph into three bullet points: {}",
        "Write a question and its answer about this paragraph: {}",
        "What is the main idea of this paragraph? {}",
    ),
    "advice": (
        "My friend says: '{}'. How can I help?", "{}. Give me three options.",
        "{}. What would a good mentor suggest?",
    ),
    "trivia": (
        "{} Give the answer and explain how you know.", "Explain to a child: {}",
        "{} Answer in one word, then add some context.",
    ),
}
# fmt: on


_Item = TypeVar("_Item")


def _split(items: tuple[_Item, ...], heldout: bool) -> list[_Item]:
    """Every fifth topic when ``heldout``, the others otherwise."""
    return [t for i, t in enumerate(items) if (i % _HELDOUT_EVERY == _HELDOUT_EVERY - 1) == heldout]


def _math_problems(scenarios: list[tuple[str, str, str]], rng: random.Random) -> list[str]:
    problems = []
    for item, verb, container in scenarios:
        for name in _NAMES:
            a, b, c = rng.randint(2, 9), rng.randint(3, 12), rng.randint(1, 20)
            problems.append(
                f"{name} {verb} {a} {container} with {b} {item} in each and then gives away {c}. "
                f"How many {item} does {name} have now? Solve it step by step."
            )
    return problems


def _heldout_terms() -> list[str]:
    """Every held-out topic, lower-cased, to keep training prompts off them."""
    terms = [*_split(_CONCEPTS, True), *_split(_TASKS, True), *_split(_ACTIVITIES, True)]
    terms += [x for pair in _split(_PAIRS, True) for x in pair]
    terms += [*_split(_SUBJECTS, True), *_split(_WORDS, True), *_split(_CODE, True)]
    terms += [matter for _, matter in _split(_EMAILS, True)]
    terms += [item for item, _, _ in _split(_MATH, True)]
    terms += [*_split(_PARAGRAPHS, True), *_split(_SITUATIONS, True), *_split(_QUESTIONS, True)]
    return [t.lower() for t in terms]


def _kinds(heldout: bool) -> list[list[str]]:
    """The prompts of every kind of request, one list per kind."""
    rng = random.Random(1234 if heldout else 4321)

    def more(kind: str) -> tuple[str, ...]:
        return () if heldout else _MORE[kind]

    return [
        [t.format(x) for x in _split(_CONCEPTS, heldout) for t in _T_EXPLAIN + more("explain")],
        [t.format(x) for x in _split(_TASKS, heldout) for t in _T_HOWTO + more("howto")],
        [
            t.format(x, n=n)
            for x in _split(_ACTIVITIES, heldout)
            for t in _T_TIPS + more("tips")
            for n in (3, 5)
        ],
        [t.format(a, b) for a, b in _split(_PAIRS, heldout) for t in _T_COMPARE + more("compare")],
        [t.format(x) for x in _split(_SUBJECTS, heldout) for t in _T_CREATIVE + more("creative")],
        [t.format(a, b) for a, b in _split(_EMAILS, heldout) for t in _T_EMAIL + more("email")],
        [t.format(x) for x in _split(_WORDS, heldout) for t in _T_DEFINE + more("define")],
        _math_problems(_split(_MATH, heldout), rng),
        [t.format(x) for x in _split(_CODE, heldout) for t in _T_CODE + more("code")],
        [
            t.format(x)
            for x in _split(_PARAGRAPHS, heldout)
            for t in _T_PARAGRAPH + more("paragraph")
        ],
        [t.format(x) for x in _split(_SITUATIONS, heldout) for t in _T_ADVICE + more("advice")],
        [t.format(x) for x in _split(_QUESTIONS, heldout) for t in _T_TRIVIA + more("trivia")],
    ]


def _all_prompts(heldout: bool) -> list[str]:
    prompts = list(dict.fromkeys(p for kind in _kinds(heldout) for p in kind))
    if not heldout:
        terms = _heldout_terms()
        prompts = [p for p in prompts if not any(term in p.lower() for term in terms)]
    return prompts


def _check_count(n: int | None, available: int) -> int:
    if n is None:
        return available
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= available:
        raise bad_value(
            "n",
            n,
            f"it must be None or an int from 1 to {available}",
            f"Pass n=None for all {available} prompts, or a smaller count.",
        )
    return n


def training_prompts(n: int | None = None, *, seed: int = 0) -> list[str]:
    """Distinct training prompts, shuffled with ``seed``.

    Parameters
    ----------
    n : int, optional
        How many (default: all of them, 2,810).
    seed : int, default=0
        The shuffle; the same seed always gives the same list.

    Returns
    -------
    list of str
        No prompt shares a topic with :func:`heldout_prompts`.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise bad_value("seed", seed, "it must be an int", "Pass seed=0 or another integer.")
    prompts = _all_prompts(heldout=False)
    random.Random(seed).shuffle(prompts)
    return prompts[: _check_count(n, len(prompts))]


def heldout_prompts(n: int | None = None) -> list[str]:
    """Distinct held-out prompts on topics that no training prompt mentions.

    Parameters
    ----------
    n : int, optional
        How many (default: all of them, 422), taken from the twelve kinds of request
        in turn, so that even a small ``n`` mixes them.
    """
    kinds = _kinds(heldout=True)
    interleaved = (kind[i] for i in range(max(map(len, kinds))) for kind in kinds if i < len(kind))
    ordered = list(dict.fromkeys(interleaved))
    return ordered[: _check_count(n, len(ordered))]


def heldout_count(training: int | None) -> int:
    """How many held-out prompts measure heads trained on ``training`` prompts.

    :data:`FULL_HELDOUT` (64) for all the training prompts (``None``, the shipped heads'
    recipe) and from 640 up; a tenth of a smaller count, at least :data:`QUICK_HELDOUT`
    (16): the held-out answers cost the same whatever the training size, so a quick try
    answers fewer. The saved accuracies (and the candidate tree built from them) come
    from these answers.
    """
    if training is None:
        return FULL_HELDOUT
    count = check_positive_int("training", training)
    return min(FULL_HELDOUT, max(QUICK_HELDOUT, math.ceil(count / 10)))
