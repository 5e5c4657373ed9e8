#!/usr/bin/env python3
"""Writes people.jsonl: the separate relevance set of issue #22 — 30 queries as people type them
into a shop's search box or write them in a review (the seed's example among them), each with its
Korean twin, graded from catalogue facts written here from perfumery knowledge, not from the
lexicon (lexicon.json was not consulted to write these; notes are spelled as the catalogue spells
them, so an understood word does not produce its own judgment).

Fields: `topic` — filters a relevant perfume meets (grade 2: all, 1: at least half of two or
more); `avoid` — filters that make a perfume wrong for the query (grade 0: "not heavy" for the
office); `split` — dev (may be looked at while building) or test (only reported). Grading rules
beyond the topic (well-known, described, duplicates) live in main.swift.

python3 make_people.py > people.jsonl"""
import json

def q(s): return "'" + s.replace("'", "''") + "'"
def notes(*v): return f"notes CONTAINS ANY ({', '.join(q(x) for x in v)})"
def accords(*v): return f"accords CONTAINS ANY ({', '.join(q(x) for x in v)})"
def either(*fs): return " OR ".join(f"({f})" for f in fs)

VANILLA = notes("Vanilla", "Vanille", "Vanila", "Madagascar Vanilla", "Bourbon Vanilla", "Tahitian Vanilla", "Vanilla Absolute", "Vanilla orchid")
OUD = notes("Agarwood (Oud)", "Oud")
ROSE = notes("Rose", "Bulgarian Rose", "Turkish Rose", "Damask Rose", "Taif Rose", "May Rose", "Rose de Mai", "Moroccan Rose", "Red Rose", "White Rose", "Tea Rose", "Rose Petals", "Rose Oil", "Tincture of rose", "Wild Rose")
MUSK = notes("Musk", "White Musk", "White musk", "Cashmere Musk", "Black Musk", "Ambrette (Musk Mallow)")
HEAVY = either(accords("oud", "animalic", "tobacco", "leather", "smoky"), "sillage = 'enormous'")
LOUD = "sillage IN ('strong', 'enormous')"

QUERIES = [
 ("beach vacation perfume", "해변 휴가에 뿌릴 향수",
  [either(notes("Coconut", "Coconut Milk", "Sea Notes", "Sea Salt", "Salt", "Sea water", "Tiare Flower", "Sand", "Seaweed", "Frangipani", "Monoi Oil"),
          accords("salty", "coconut", "marine", "sand"))], []),
 ("something clean and fresh for the office", "사무실에서 쓰기 좋은 깨끗하고 상쾌한 향",
  [accords("fresh", "citrus", "soapy", "aldehydic", "aquatic", "ozonic", "green"), accords("musky", "fresh", "soapy", "citrus")], [HEAVY]),
 ("cozy vanilla for cold winter nights", "추운 겨울밤에 포근한 바닐라 향",
  [either(VANILLA, accords("vanilla")), accords("warm spicy", "amber", "balsamic", "sweet")], []),
 ("smells like rain on wet earth", "비 온 뒤 젖은 흙 냄새 나는 향수",
  [either(notes("Rain notes", "Petrichor", "Soil tincture", "Wet earth", "Water Notes", "Watery Notes", "Ozonic notes"), accords("ozonic", "earthy", "watery"))], []),
 ("seductive date night perfume for men", "데이트할 때 남자가 뿌리면 좋은 섹시한 향수",
  ["gender = 'male'", accords("amber", "warm spicy", "vanilla", "sweet", "leather", "tobacco", "balsamic")], []),
 ("light gym fragrance that isn't overpowering", "운동할 때 뿌려도 부담 없는 가벼운 향",
  [accords("fresh", "citrus", "aquatic", "ozonic", "green", "marine")], [HEAVY, LOUD]),
 ("bridal white floral for my wedding day", "결혼식 날 신부에게 어울리는 화이트 플로럴",
  [accords("white floral"), notes("Jasmine", "Tuberose", "Orange Blossom", "Gardenia", "Lily-of-the-Valley", "Jasmine Sambac", "Lily", "White Flowers")], []),
 ("church incense, smoky and resinous", "성당 같은 스모키하고 레진 느낌의 인센스",
  [notes("Incense", "Olibanum", "Frankincense", "Myrrh", "Myrhh"), either(accords("smoky", "balsamic"), notes("Smoke", "Resins", "Resin", "Labdanum"))], []),
 ("crackling fireplace, smoky woods and leather", "타닥타닥 벽난로, 스모키한 나무와 가죽 냄새",
  [either(accords("smoky"), notes("Birch", "Smoke", "Cade", "Guaiac Wood")), either(accords("leather", "woody"), notes("Leather", "Suede"))], []),
 ("christmas in a bottle: cinnamon, orange and cloves", "크리스마스 느낌의 시나몬, 오렌지, 정향 향수",
  [notes("Cinnamon", "Cassia"), notes("Orange", "Bitter Orange", "Blood Orange", "Sweet Orange", "Mandarin Orange", "Tangerine"), notes("Cloves", "Clove")], []),
 ("minty fresh scent", "민트향이 나는 시원한 향수",
  [notes("Mint", "Spicy Mint", "Peppermint", "Spearmint", "Mint Leaf")], []),
 ("boozy rum and tobacco", "럼이랑 담배 향이 나는 술 같은 향수",
  [either(notes("Rum", "Cognac", "Whiskey", "Brandy", "Bourbon"), accords("rum", "whiskey", "alcohol")), either(notes("Tobacco", "Tobacco Leaf", "Tobacco Blossom"), accords("tobacco"))], []),
 ("powdery iris, like lipstick and makeup", "립스틱이나 화장품 같은 파우더리한 아이리스",
  [notes("Iris", "Orris Root", "Orris", "Iris Flower", "Tuscan Iris", "Violet"), accords("powdery")], []),
 ("a walk in a pine forest", "소나무 숲을 걷는 듯한 향",
  [either(notes("Pine", "Pine Tree", "Pine needles", "Fir", "Balsam Fir", "Fir Resin", "Cypress", "Juniper", "Fir Needles"), accords("conifer"))], []),
 ("spa day: eucalyptus and green tea", "스파에 온 듯한 유칼립투스와 녹차 향",
  [notes("Eucalyptus", "Green Tea", "White Tea", "Tea", "Bamboo"), accords("green", "herbal", "fresh", "aromatic")], []),
 ("honeyed florals", "꿀처럼 달콤한 꽃향기",
  [either(notes("Honey", "White honey", "Beeswax"), accords("honey", "beeswax")), accords("floral", "white floral", "yellow floral", "rose")], []),
 ("leathery chypre for women", "여자용 가죽 느낌의 시프레 향수",
  ["gender = 'female'", either(accords("leather"), notes("Leather", "Suede")), notes("Oakmoss", "Oak moss", "Moss", "Patchouli")], []),
 ("coffee and caramel gourmand", "커피랑 캐러멜 향이 나는 구르망",
  [either(notes("Coffee"), accords("coffee")), either(notes("Caramel", "Toffee", "Praline"), accords("caramel"))], []),
 ("summer citrus cologne for men", "여름에 남자가 쓰기 좋은 시트러스 코롱",
  ["gender = 'male'", accords("citrus"), accords("fresh", "aromatic", "fresh spicy")], []),
 ("dark oud for the evening", "저녁에 어울리는 짙은 우드(oud) 향",
  [either(OUD, accords("oud")), accords("amber", "smoky", "leather", "balsamic", "animalic")], []),
 ("smells like clean laundry and soap", "갓 빨래한 빨래와 비누 냄새",
  [either(accords("soapy", "aldehydic"), notes("Aldehydes", "Cotton Flower", "Clean Laundry", "Soap")), either(accords("musky"), MUSK)], []),
 ("fresh cut grass in spring", "봄에 막 깎은 잔디 냄새",
  [notes("Grass", "Green Grass", "Cut Grass", "Hay", "Green Notes", "Green Leaves"), accords("green")], []),
 ("soft musky skin scent, close to the body", "살냄새 같은 은은한 머스크",
  [either(MUSK, accords("musky")), "sillage IN ('intimate', 'moderate')"], [LOUD]),
 ("fruity sweet perfume for a teenage girl", "10대 여학생에게 어울리는 달달한 과일향",
  [accords("fruity"), accords("sweet"), "gender != 'male'"], []),
 ("pineapple and birch, smoky fruity for men", "파인애플과 자작나무, 스모키하고 프루티한 남자 향수",
  [notes("Pineapple"), notes("Birch"), "gender != 'female'"], []),
 ("rose oud", "장미 우드 향수",
  [ROSE, either(OUD, accords("oud"))], []),
 ("calming lavender for bedtime", "잠들기 전 마음을 진정시키는 라벤더",
  [notes("Lavender"), accords("aromatic", "herbal", "powdery", "lavender")], [LOUD]),
 ("tropical coconut summer scent", "여름에 어울리는 트로피컬 코코넛 향",
  [either(notes("Coconut", "Coconut Milk"), accords("coconut")), either(accords("tropical"), notes("Pineapple", "Mango", "Passionfruit", "Frangipani", "Tiare Flower", "Papaya", "Guava"))], []),
 ("aquatic fragrance for hot humid weather", "덥고 습한 날씨에 좋은 아쿠아틱 향수",
  [accords("aquatic", "marine", "ozonic", "watery"), accords("citrus", "fresh", "green")], [HEAVY]),
 ("spring florals rated above 4", "평점 4점 넘는 봄 꽃향기 향수",
  ["seasons CONTAINS 'spring'", accords("floral", "white floral", "rose", "yellow floral"), "rating > 4"], []),
]
assert len(QUERIES) == 30
for i, (en, ko, topic, avoid) in enumerate(QUERIES):
    split = "dev" if i % 2 == 0 else "test"
    for lang, text, me, twin in (("en", en, f"pe{i:02d}", f"pk{i:02d}"), ("ko", ko, f"pk{i:02d}", f"pe{i:02d}")):
        print(json.dumps(dict(id=me, lang=lang, text=text, twin=twin, split=split, topic=topic, avoid=avoid), ensure_ascii=False))
