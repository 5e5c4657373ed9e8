#!/usr/bin/env python3
"""Writes the search relevance set (queries.jsonl): 100 English queries and Korean twins of
50 of them, each with the catalogue facts that make a perfume relevant.

A query's `criteria` are filters (schemas/filter.md) over the catalogue's facts; a perfume's
grade is 2 when it meets all of them, 1 when it meets at least half (of two or more), else 0,
and 0 whenever it meets one of `exclude`. The judgments come from the facts, not from any
search arm. Seeded, so the file is reproducible: python3 make_queries.py > queries.jsonl"""
import json, random

rng = random.Random(8)

def q(s):
    return "'" + s.replace("'", "''") + "'"

# word (en, ko) -> criterion
SEASONS = {"spring": ("spring", "봄"), "summer": ("summer", "여름"), "fall": ("autumn", "가을"), "winter": ("winter", "겨울")}
CHARACTER = {  # accords/families, with the words people use
    "fresh": ("fresh", "상큼한", "accords CONTAINS ANY ('fresh', 'citrus')"),
    "floral": ("floral", "꽃향기 나는", "accords CONTAINS 'floral' OR families CONTAINS 'floral'"),
    "woody": ("woody", "우디한", "accords CONTAINS 'woody' OR families CONTAINS 'woody'"),
    "sweet": ("sweet", "달콤한", "accords CONTAINS 'sweet'"),
    "citrus": ("citrus", "시트러스", "accords CONTAINS 'citrus' OR families CONTAINS 'citrus'"),
    "powdery": ("powdery", "파우더리한", "accords CONTAINS 'powdery'"),
    "aquatic": ("aquatic", "아쿠아틱한", "accords CONTAINS ANY ('aquatic', 'marine') OR families CONTAINS 'aquatic'"),
    "spicy": ("warm spicy", "따뜻한 스파이시", "accords CONTAINS 'warm spicy'"),
    "green": ("green", "그린", "accords CONTAINS 'green' OR families CONTAINS 'green'"),
    "gourmand": ("gourmand", "구르망", "families CONTAINS 'gourmand' OR accords CONTAINS 'gourmand'"),
    "leather": ("leather", "가죽 향", "accords CONTAINS 'leather' OR families CONTAINS 'leather'"),
    "fruity": ("fruity", "과일향", "accords CONTAINS 'fruity' OR families CONTAINS 'fruity'"),
    "musky": ("musky", "머스키한", "accords CONTAINS 'musky' OR families CONTAINS 'musk'"),
    "smoky": ("smoky", "스모키한", "accords CONTAINS 'smoky'"),
}
NOTES = {  # note -> (en, ko, values)
    "rose": ("rose", "장미", ["rose", "roses"]), "vanilla": ("vanilla", "바닐라", ["vanilla", "vanille", "vanila"]),
    "jasmine": ("jasmine", "자스민", ["jasmine", "jasmin"]), "sandalwood": ("sandalwood", "샌달우드", ["sandalwood", "sandalowood"]),
    "bergamot": ("bergamot", "베르가못", ["bergamot"]), "patchouli": ("patchouli", "패출리", ["patchouli"]),
    "lavender": ("lavender", "라벤더", ["lavender"]), "oud": ("oud", "우드", ["agarwood (oud)", "oud"]),
    "vetiver": ("vetiver", "베티버", ["vetiver"]), "iris": ("iris", "아이리스", ["iris"]),
    "tonka bean": ("tonka bean", "통카빈", ["tonka bean"]), "lemon": ("lemon", "레몬", ["lemon"]),
    "amber": ("amber", "앰버", ["amber"]), "musk": ("musk", "머스크", ["musk", "musks"]),
    "peach": ("peach", "복숭아", ["peach"]), "coffee": ("coffee", "커피", ["coffee"]),
    "tuberose": ("tuberose", "튜베로즈", ["tuberose"]), "fig": ("fig", "무화과", ["fig"]),
    "cherry blossom": ("cherry blossom", "벚꽃", ["cherry blossom"]), "green tea": ("green tea", "녹차", ["green tea"]),
    "leather": ("leather", "가죽", ["leather"]), "incense": ("incense", "인센스", ["incense"]),
    "grapefruit": ("grapefruit", "자몽", ["grapefruit"]), "cardamom": ("cardamom", "카다멈", ["cardamom"]),
}
GENDERS = {"male": ("for men", "남자"), "female": ("for women", "여자")}
DECADES = [1970, 1980, 1990, 2000, 2010]

def note_filter(n):
    return f"notes CONTAINS ANY ({', '.join(q(v) for v in NOTES[n][2])})"

def season_filter(s):
    return f"seasons CONTAINS {q(s)}"

def templates():
    out = []
    seasons, chars, notes, genders = list(SEASONS), list(CHARACTER), list(NOTES), list(GENDERS)
    def pick(a, k=1):
        return rng.sample(a, k)
    for i in range(10):  # character + season
        c, s = pick(chars)[0], pick(seasons)[0]
        out.append(dict(en=f"{CHARACTER[c][0]} perfume for {SEASONS[s][0]}", ko=f"{SEASONS[s][1]}에 어울리는 {CHARACTER[c][1]} 향수",
                        criteria=[CHARACTER[c][2], season_filter(s)]))
    for i in range(10):  # character + gender
        c, g = pick(chars)[0], pick(genders)[0]
        out.append(dict(en=f"{CHARACTER[c][0]} fragrance {GENDERS[g][0]}", ko=f"{GENDERS[g][1]} {CHARACTER[c][1]} 향수",
                        criteria=[CHARACTER[c][2], f"gender = {q(g)}"]))
    for i in range(10):  # note without note
        a, b = pick(notes, 2)
        out.append(dict(en=f"{NOTES[a][0]} perfume without {NOTES[b][0]}", ko=f"{NOTES[b][1]} 없는 {NOTES[a][1]} 향수",
                        criteria=[note_filter(a)], exclude=[note_filter(b)]))
    for i in range(10):  # two notes + season
        a, b = pick(notes, 2)
        s = pick(seasons)[0]
        out.append(dict(en=f"{NOTES[a][0]} and {NOTES[b][0]} for {SEASONS[s][0]}", ko=f"{SEASONS[s][1]}용 {NOTES[a][1]} {NOTES[b][1]} 향수",
                        criteria=[note_filter(a), note_filter(b), season_filter(s)]))
    for i in range(10):  # character + decade
        c, d = pick(chars)[0], rng.choice(DECADES)
        out.append(dict(en=f"{CHARACTER[c][0]} perfume from the {str(d)[2:]}s", ko=f"{str(d)[2:]}년대 {CHARACTER[c][1]} 향수",
                        criteria=[CHARACTER[c][2], f"year BETWEEN {d} AND {d + 9}"]))
    brands = [("Chanel", "Chanel", "샤넬"), ("Guerlain", "Guerlain", "겔랑"), ("Jo Malone London", "Jo Malone", "조말론"),
              ("Diptyque", "Diptyque", "딥티크"), ("Byredo", "Byredo", "바이레도"), ("Tom Ford", "Tom Ford", "톰포드"),
              ("Yves Saint Laurent", "Yves Saint Laurent", "입생로랑"), ("Creed", "Creed", "크리드"),
              ("Serge Lutens", "Serge Lutens", "세르주 루텐"), ("Acqua di Parma", "Acqua di Parma", "아쿠아 디 파르마")]
    for brand, en, ko in brands:  # brand + character
        c = pick(chars)[0]
        out.append(dict(en=f"{en} {CHARACTER[c][0]} perfume", ko=f"{ko}의 {CHARACTER[c][1]} 향수",
                        criteria=[f"brand = {q(brand)}", CHARACTER[c][2]]))
    return out

def english_only():
    out = []
    seasons, chars, notes, genders = list(SEASONS), list(CHARACTER), list(NOTES), list(GENDERS)
    for i in range(10):
        n = rng.choice(notes)
        out.append(dict(en=f"not too sweet {NOTES[n][0]} scent", criteria=[note_filter(n), "NOT accords CONTAINS 'sweet'"]))
    for i in range(10):
        n, c = rng.choice(notes), rng.choice(chars)
        out.append(dict(en=f"long lasting {CHARACTER[c][0]} {NOTES[n][0]} perfume",
                        criteria=[note_filter(n), CHARACTER[c][2], "longevity IN ('long_lasting', 'eternal')"]))
    for i in range(10):
        c, y = rng.choice(chars), rng.choice([1995, 2000, 2005, 2010])
        out.append(dict(en=f"{CHARACTER[c][0]} perfume before {y}", criteria=[CHARACTER[c][2], f"year < {y}"]))
    for i in range(10):
        n, s, g = rng.choice(notes), rng.choice(seasons), rng.choice(genders)
        out.append(dict(en=f"{NOTES[n][0]} perfume {GENDERS[g][0]} in {SEASONS[s][0]}",
                        criteria=[note_filter(n), season_filter(s), f"gender = {q(g)}"]))
    for i in range(10):
        c, t = rng.choice(chars), rng.choice(["day", "night"])
        word = {"day": "office", "night": "evening"}[t]
        out.append(dict(en=f"light {CHARACTER[c][0]} scent for the {word}",
                        criteria=[CHARACTER[c][2], f"time_of_day CONTAINS {q(t)}", "intensity = 'light'"]))
    return out

rows = []
pairs = templates()
for i, p in enumerate(pairs):
    base = dict(criteria=p["criteria"], exclude=p.get("exclude", []))
    rows.append(dict(id=f"en{i:03d}", lang="en", text=p["en"], twin=f"ko{i:03d}", **base))
    rows.append(dict(id=f"ko{i:03d}", lang="ko", text=p["ko"], twin=f"en{i:03d}", **base))
for i, p in enumerate(english_only()):
    rows.append(dict(id=f"en{100 + i:03d}", lang="en", text=p["en"], criteria=p["criteria"], exclude=p.get("exclude", [])))
# The seed's query and its twin.
seed = dict(criteria=[season_filter("spring"), "accords CONTAINS ANY ('fresh', 'citrus')", "accords CONTAINS ANY ('floral', 'white floral', 'rose')"], exclude=[])
rows.append(dict(id="en200", lang="en", text="a fresh, romantic spring perfume", twin="ko200", **seed))
rows.append(dict(id="ko200", lang="ko", text="상큼하고 로맨틱한 봄 향수", twin="en200", **seed))
for r in rows:
    print(json.dumps(r, ensure_ascii=False))
