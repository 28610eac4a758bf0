"""Generate an Annuaire Santé "Extraction des BAL MSSanté" file of any size.

Same layout as the real daily file (docs/rules.md "The directory file"): UTF-8, `|`, a header
line, 31 columns; about 85 % PER and 15 % ORG rows, accented and compound
names, Corsican and overseas départements, a few duplicated address lines
(about 169 per 536,000 like the real file), every 50th line ending with a
trailing `|`. Deterministic for a given seed.

    .venv/bin/python bench/directory_data.py OUT.txt [--rows 536000] [--seed 6]
"""

from __future__ import annotations

import argparse
import random
import unicodedata
from pathlib import Path

HEADER = ("Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification "
          "nationale PP|Type identifiant structure|Identification Structure|Service de "
          "rattachement|Civilité d'exercice|Nom d'exercice|Prénom d'exercice|Catégorie "
          "profession|Libellé de catégorie profession|Code Profession|Libellé Profession|"
          "Code savoir-faire|Libellé savoir-faire|Dématérialisation|Raison Sociale structure "
          "BAL|Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION structure BAL|"
          "L3COMPLEMENTDISTRIBUTION structure BAL|L4NUMEROVOIE structure BAL|"
          "L4COMPLEMENTNUMEROVOIE structure BAL|NL4TYPEVOIE structure BAL|L4LIBELLEVOIE "
          "structure BAL|L5LIEUDITMENTION structure BAL|L6LIGNEACHEMINEMENT structure BAL|"
          "Code postal structure BAL|Département structure BAL|Pays structure BAL")
SYLLABLES = ("ma", "ri", "du", "pon", "le", "fè", "vre", "ber", "nard", "tho", "mas", "ro",
             "bert", "pe", "tit", "gar", "cia", "mo", "reau", "lau", "rent", "si", "mon",
             "mi", "chel", "fran", "çois", "gi", "rard", "an", "dré", "n'", "dia", "ye",
             "gué", "rin", "boi", "vin", "fau", "re", "cha", "te", "lain", "ké", "ra")
FIRST = ("Jean", "Marie", "Pierre", "Anaïs", "Zoé", "Loïc", "Hélène", "Jean-Pierre",
         "Catherine", "Michel", "Sylvie", "Philippe", "André", "Isabelle", "Nathalie",
         "François", "Élodie", "Céline", "Noël", "Maëlle", "Thomas", "Camille", "Léa")
PROFESSIONS = (("10", "Médecin"), ("21", "Pharmacien"), ("40", "Chirurgien-Dentiste"),
               ("50", "Sage-Femme"), ("60", "Infirmier"), ("70", "Masseur-Kinésithérapeute"),
               ("80", "Pédicure-Podologue"), ("91", "Orthophoniste"))
SPECIALTIES = (("SM26", "Qualifié en Médecine Générale"),
               ("SM04", "Cardiologie et maladies vasculaires"), ("SM54", "Pédiatrie"),
               ("SM42", "Psychiatrie"), ("SM19", "Gynécologie-obstétrique"),
               ("SM38", "Ophtalmologie"), ("SM15", "Dermatologie et vénéréologie"))
DOMAINS = ("aphp", "chu-toulouse", "ch-brest", "ch-ajaccio", "pharmacien", "infirmier",
           "medecin", "chu-lyon", "ght-bretagne", "ch-bastia")


def _cities(rng: random.Random) -> list[tuple[str, str, str]]:
    fixed = [("75011", "PARIS", "75"), ("69003", "LYON", "69"), ("20000", "AJACCIO", "2A"),
             ("20200", "BASTIA", "2B"), ("97400", "SAINT DENIS", "974"),
             ("29200", "BREST", "29"), ("31000", "TOULOUSE", "31")]
    for _ in range(3000):
        dept = rng.choice([f"{d:02d}" for d in range(1, 96) if d != 20])
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).upper()
        prefix = rng.choice(("", "SAINT ", "LE ", "")) if rng.random() < 0.3 else ""
        fixed.append((f"{dept}{rng.randint(0, 999):03d}", prefix + name, dept))
    return fixed


def _surnames(rng: random.Random, n: int) -> list[str]:
    names = set()
    while len(names) < n:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).upper())
    return sorted(names)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _per(rng: random.Random, i: int, last: str, first: str, city: tuple[str, str, str]) -> str:
    rpps = f"1{i:010d}"
    code, prof = rng.choice(PROFESSIONS)
    spec = rng.choice(SPECIALTIES) if code == "10" else ("", "")
    local = _ascii(f"{first}.{last}".lower().replace(" ", "-").replace("'", ""))
    address = f"{local}.{i}@{rng.choice(DOMAINS)}.mssante.fr"
    civ = rng.choice(("M", "MME", ""))
    street = f"{rng.randint(1, 200)}||AV|DES LILAS|"
    return (f"PER|{address}|8|{rpps}|8{rpps}||||{civ}|{last}|{first}|C|Civil|{code}|{prof}|"
            f"{spec[0]}|{spec[1]}|{rng.choice(('True', 'False'))}|CABINET {last}||||{street}|"
            f"{city[0]} {city[1]}|{city[0]}|{city[2]}|FRANCE")


def _org(rng: random.Random, i: int, city: tuple[str, str, str]) -> str:
    service = rng.choice(("Cardiologie", "Pharmacie à usage intérieur", "Urgences",
                          "Secrétariat médical", "Laboratoire"))
    structure = f"{rng.choice(('CENTRE HOSPITALIER', 'CLINIQUE', 'EHPAD'))} {city[1]}"
    address = f"{service.split()[0].lower()}.{i}@{rng.choice(DOMAINS)}.mssante.fr"
    return (f"ORG|{address}||||1|{rng.randint(10**9, 10**10 - 1)}|{service}|||||||||||"
            f"{structure}||||{rng.randint(1, 99)}||R|DE LA SANTE||{city[0]} {city[1]}|"
            f"{city[0]}|{city[2]}|FRANCE")


def generate(path: Path, rows: int, seed: int = 6) -> None:
    """Write `rows` data lines (plus the header) to `path`."""
    rng = random.Random(seed)
    cities, surnames = _cities(rng), _surnames(rng, max(50, rows // 6))
    duplicates = max(1, rows * 169 // 536_000)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(HEADER + "\n")
        previous: list[str] = []
        for i in range(rows - duplicates):
            city = rng.choice(cities)
            line = (_org(rng, i, city) if rng.random() < 0.15 else
                    _per(rng, i, rng.choice(surnames), rng.choice(FIRST), city))
            out.write(line + ("|" if i % 50 == 49 else "") + "\n")
            if i % (rows // duplicates or 1) == 0:
                previous.append(line)
        for line in previous[:duplicates]:
            out.write(line + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--rows", type=int, default=536_000)
    p.add_argument("--seed", type=int, default=6)
    args = p.parse_args()
    generate(args.out, args.rows, args.seed)


if __name__ == "__main__":
    main()
