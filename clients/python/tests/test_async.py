"""The asyncio client against the same real server: the same operations, awaited."""
from __future__ import annotations

import asyncio

import pytest

from fragrancedb import AsyncClient, BadRequestError, NotFoundError, Page, SearchResults


def run(coro):
    return asyncio.run(coro)


def test_concurrent_queries_share_one_client(server):
    async def main():
        async with AsyncClient(server.url) as db:
            texts = ["fresh citrus for summer", "warm vanilla amber for winter", "봄에 쓸 플로럴 향수", "smoky leather", "rose"]
            results = await asyncio.gather(*(db.query(t, top_k=3) for t in texts))
            single = [await db.query(t, top_k=3) for t in texts]
            return results, single

    results, single = run(main())
    assert all(isinstance(r, SearchResults) and len(r) > 0 for r in results)
    # Concurrency changes nothing about the answers.
    assert [r.ids for r in results] == [r.ids for r in single]


def test_records_browse_and_errors(server, collection_name):
    async def main():
        async with AsyncClient(server.url) as db:
            await db.create_collection(collection_name, dimension=2)
            written = await db.upsert(collection_name, [{"id": str(i), "vector": [1, i], "n": i} for i in range(30)])
            page = await db.browse(collection_name, order="n:desc", limit=10)
            walked = [r.id async for r in db.iter_records(collection_name, order="n", page_size=7)]
            bulk = await db.import_records(collection_name, [{"id": "z", "vector": [1, 1], "n": "not a number"}])
            with pytest.raises(NotFoundError):
                await db.get(collection_name, "nope")
            with pytest.raises(BadRequestError) as e:
                await db.search(collection_name, vector=[1, 0], filter="n >")
            count = await db.count(collection_name, "n >= 10")
            await db.drop_collection(collection_name)
            return written, page, walked, bulk, e.value, count

    written, page, walked, bulk, error, count = run(main())
    assert written.inserted == 30
    assert isinstance(page, Page) and [r["n"] for r in page.records] == list(range(29, 19, -1)) and page.next
    assert walked == [str(i) for i in range(30)]
    assert bulk.written == 0 and bulk.errors[0].code == "BAD_TYPE" and bulk.errors[0].line == 1
    assert error.code == "BAD_FILTER"
    assert count == 20


def test_recipe_and_info(server):
    async def main():
        async with AsyncClient(server.url) as db:
            return await asyncio.gather(db.generate_recipe(fragrance_family="woody", season="winter"), db.info("collections"))

    recipe, info = run(main())
    assert recipe.validation.valid and recipe.recipe["concentration"]
    assert {c["name"] for c in info["collections"]} >= {"perfumes", "materials"}
