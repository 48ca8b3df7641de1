"""The directory's list of sites (issue 16: reports offer a choice of site and list every
site's topics): every stored site once, by id, as last stored; the same from another node."""

from __future__ import annotations

from chat_server.backends.base import Store
from chat_server.core.model import Site, Topic
from tests.contract.conftest import Storage


async def test_sites_listed_by_id_once(store: Store, storage: Storage) -> None:
    assert await store.directory.sites() == []
    shop = Site("shop", ("https://shop.example",), topics=(Topic("billing", "Billing"),))
    await store.directory.put_site(shop)
    await store.directory.put_site(Site("blog", ("https://blog.example",)))
    moved = Site("shop", ("https://new.example",), topics=(Topic("sales", "Sales"),))
    await store.directory.put_site(moved)
    assert await store.directory.sites() == [Site("blog", ("https://blog.example",)), moved]
    async with storage.another() as other:
        assert [s.id for s in await other.directory.sites()] == ["blog", "shop"]
