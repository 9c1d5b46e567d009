"""ui/share.py: snapshots get unguessable ids, copy their images, expire, stay within their count and
bytes (the oldest dropped), refuse a snapshot over the size limit, delete only with their token, and
refuse ids that are not ids (no path is ever built from one)."""
from __future__ import annotations

import json
import re

import pytest

from model.events import UserFacingError
from ui.share import ID_PATTERN, ShareLimits, ShareStore, valid_id


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "upload.PNG"
    path.write_bytes(b"\x89PNG fake image bytes")
    return str(path)


def store_in(tmp_path, clock=None, **limits) -> ShareStore:
    return ShareStore(tmp_path / "shares", ShareLimits(**limits), clock=clock or Clock())


def test_a_snapshot_round_trips_with_its_images_copied(tmp_path, image):
    store = store_in(tmp_path)
    share_id, token = store.create({"model": "tiny", "record": {"question": "q"}}, [image])
    assert ID_PATTERN.fullmatch(share_id) and ID_PATTERN.fullmatch(token) and token != share_id
    snapshot = store.load(share_id)
    assert snapshot["model"] == "tiny" and snapshot["record"] == {"question": "q"}
    (copied,) = snapshot["image_paths"]
    assert copied.endswith(f"{share_id}/image-1.png") and open(copied, "rb").read() == b"\x89PNG fake image bytes"
    written = (tmp_path / "shares" / share_id / "snapshot.json").read_text()
    assert token not in written and "delete_hash" in json.loads(written)  # only the token's hash is kept


def test_ids_are_unguessable_and_distinct(tmp_path):
    store = store_in(tmp_path, max_count=1000)
    ids = {store.create({}, [])[0] for _ in range(50)}
    assert len(ids) == 50 and all(len(share_id) == 22 for share_id in ids)


@pytest.mark.parametrize("bad", ["../../etc", "../../etc/passwd", "/etc/passwd", "", None, 7, "a" * 21,
                                 "a" * 23, "aaaaaaaaaaaaaaaaaaaa/.", "..%2F..%2Fetc%2Fpasswdxx"])
def test_an_id_that_is_not_an_id_is_refused(tmp_path, bad):
    store = store_in(tmp_path)
    assert not valid_id(bad) and store.load(bad) is None and store.delete(bad, "x") is False


def test_a_random_id_is_not_found(tmp_path):
    store = store_in(tmp_path)
    store.create({}, [])
    assert store.load("A" * 22) is None


def test_a_snapshot_expires(tmp_path):
    clock = Clock()
    store = store_in(tmp_path, clock, days=30)
    share_id, _ = store.create({}, [])
    clock.now += 29 * 86_400
    assert store.load(share_id) is not None
    clock.now += 2 * 86_400
    assert store.load(share_id) is None and not (tmp_path / "shares" / share_id).exists()


def test_expired_snapshots_are_purged_when_a_new_one_is_made(tmp_path):
    clock = Clock()
    store = store_in(tmp_path, clock, days=1)
    old, _ = store.create({}, [])
    clock.now += 2 * 86_400
    new, _ = store.create({}, [])
    assert not (tmp_path / "shares" / old).exists() and store.load(new) is not None


def test_beyond_the_count_the_oldest_go(tmp_path):
    clock = Clock()
    store = store_in(tmp_path, clock, max_count=3)
    ids = []
    for _ in range(5):
        clock.now += 1
        ids.append(store.create({}, [])[0])
    assert [store.load(share_id) is not None for share_id in ids] == [False, False, True, True, True]


def test_beyond_the_bytes_the_oldest_go(tmp_path):
    clock = Clock()
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * 40_000)
    store = store_in(tmp_path, clock, max_bytes=100_000)
    ids = []
    for _ in range(4):
        clock.now += 1
        ids.append(store.create({}, [str(big)])[0])
    assert [store.load(share_id) is not None for share_id in ids] == [False, False, True, True]


def test_a_snapshot_over_the_size_limit_is_refused_and_leaves_nothing(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * 5_000)
    store = store_in(tmp_path, max_snapshot_bytes=4_000)
    with pytest.raises(UserFacingError, match="too large to share .* the limit is"):
        store.create({}, [str(big)])
    assert not (tmp_path / "shares").exists() or not any((tmp_path / "shares").iterdir())


def test_only_the_delete_token_deletes(tmp_path, image):
    store = store_in(tmp_path)
    share_id, token = store.create({}, [image])
    other_id, _ = store.create({}, [])
    assert store.delete(share_id, "not-the-token") is False and store.load(share_id) is not None
    assert store.delete(other_id, token) is False and store.load(other_id) is not None
    assert store.delete(share_id, token) is True
    assert store.load(share_id) is None and not (tmp_path / "shares" / share_id).exists()


def test_a_failed_write_leaves_no_half_snapshot(tmp_path, image):
    store = store_in(tmp_path)
    unreadable = tmp_path / "a-folder.png"
    unreadable.mkdir()  # its size can be read, it cannot be copied: the write fails half-way
    with pytest.raises(OSError):
        store.create({}, [image, str(unreadable)])
    assert list((tmp_path / "shares").iterdir()) == []


def test_limits_come_from_the_environment():
    limits = ShareLimits.from_env({"R1V_SHARE_DAYS": "7", "R1V_SHARE_MAX_COUNT": "9", "R1V_SHARE_MAX_MB": "2"})
    assert (limits.days, limits.max_count, limits.max_bytes) == (7.0, 9, 2 * 2**20)


def test_share_links_are_off_with_the_flag_or_the_variable(monkeypatch):
    import app as app_module

    monkeypatch.delenv("R1V_SHARE_LINKS", raising=False)
    assert app_module.parse_args([]).no_share_links is False
    assert app_module.parse_args(["--no-share-links"]).no_share_links is True
    monkeypatch.setenv("R1V_SHARE_LINKS", "0")
    assert app_module.parse_args([]).no_share_links is True


class FakeRequest:
    def __init__(self, **query):
        self.query_params, self.headers, self.session_hash = query, {"referer": "http://127.0.0.1:7860/?x=1"}, None


def view_with(tmp_path, share_links: bool):
    from ui.handlers import Handlers, ModelInfo, ModelSlot
    from ui.history import HistoryOptions
    from ui.history_view import HistoryView

    class Idle:
        def stream(self, request):
            return iter(())

    options = HistoryOptions(folder=tmp_path, secret="s", share_links=share_links)
    return HistoryView(Handlers(ModelSlot(Idle(), ModelInfo("tiny"))), options)


def test_with_share_links_off_nothing_is_stored_and_a_link_says_so(tmp_path):
    from tests.test_history import record

    view = view_with(tmp_path, share_links=False)
    assert view.share((record(),), None, None, FakeRequest()) == "Share links are turned off on this server."
    assert not (tmp_path / "shares").exists()
    first = next(view.open_replay(FakeRequest(share="A" * 22)))
    assert "turned off" in first[1]


def test_a_share_gives_a_link_on_this_page_that_replays_to_the_recorded_end(tmp_path):
    from tests.test_history import record

    view = view_with(tmp_path, share_links=True)
    text = view.share((record(),), None, None, FakeRequest())
    link = re.search(r"\((http://127\.0\.0\.1:7860/\?share=[A-Za-z0-9_-]{22})\)", text).group(1)
    assert f"`{link}&delete=" in text
    share_id = link.rsplit("=", 1)[1]
    frames = list(view.open_replay(FakeRequest(share=share_id)))
    assert frames[0][6] == (share_id, None) and "Model:** tiny" in frames[0][1]
    final_messages, final_line = frames[-1][2], frames[-1][5]
    assert final_messages[-1]["content"]["text"] == "3" and "in all" in final_line
    assert len(frames) > 10  # streamed, not drawn at once
    missing = next(view.open_replay(FakeRequest(share="B" * 22)))
    assert "not found" in missing[1] and "30 days" in missing[1]
