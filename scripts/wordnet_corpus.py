"""Turn WordNet 3.0's database files into an English text corpus, one synset per line.

Each line is ``lemma, lemma, ...: gloss; "example sentence"; ...`` taken from
``/usr/share/wordnet/data.{noun,verb,adj,adv}`` of Debian's ``wordnet-base`` package (WordNet 3.0
license: use, copy, modify and distribute for any purpose, with the copyright notice kept).

    python scripts/wordnet_corpus.py WORDNET_DIR > corpus.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")
ADJECTIVE_MARKER = re.compile(r"\((a|p|ip)\)$")  # syntactic markers of some adjectives: "ablaze(p)"


def synset_lines(folder: Path):
    for pos in PARTS_OF_SPEECH:
        with open(folder / f"data.{pos}", encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):  # the license header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                count = int(fields[3], 16)
                words = [ADJECTIVE_MARKER.sub("", fields[4 + 2 * i]).replace("_", " ") for i in range(count)]
                yield f"{', '.join(words)}: {gloss.strip()}"


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet")
    n = 0
    for line in synset_lines(folder):
        sys.stdout.write(line + "\n")
        n += 1
    print(f"{n} synsets", file=sys.stderr)


if __name__ == "__main__":
    main()
