from services.common.regions import ancestors, is_known, region_covers, regions


def test_scope_covers_itself_and_its_sub_regions_only():
    assert region_covers("450000", "450103001")
    assert region_covers("450100", "450103")
    assert region_covers("450103", "450103001")
    assert region_covers("450103", "450103")
    assert not region_covers("450100", "450200")
    assert not region_covers("450103", "450107")
    assert not region_covers("450000", "440100")
    assert not region_covers("4501", "450103")  # not a code: covers nothing


def test_ancestors_walk_up_to_the_province():
    assert ancestors("450103001") == ["450103001", "450103", "450100", "450000"]


def test_region_table_holds_every_prefecture_city_of_guangxi():
    cities = [r for r in regions().values() if r.level == "city"]
    assert len(cities) == 14
    assert all(r.parent == "450000" for r in cities)
    assert is_known("450103") and not is_known("459999")
