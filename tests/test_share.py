"""ui/store/share.py: snapshots get unguessable ids, copy their images, expire, stay within their count and
bytes (a visitor's own oldest dropped, never another visitor's), keep each visitor within an hourly
quota and a share of the total, refuse a snapshot over the size limit, delete only with their token,
and refuse ids that are not ids (no path is ever built from one). The page's Share (ui/page/history/listing.py)
shares only turns this server streamed: a record edited in the browser's history is refused."""
from __future__ import annotations

import json
import re

import pytest

from model.events import UserFacingError
from ui.store.share import ID_PATTERN, ShareLimits, ShareStore, valid_id


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
    store = store_in(tmp_path, max_count=1000, per_hour=100, visitor_percent=100)
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


def test_beyond_the_count_a_visitors_own_oldest_go_and_nobody_elses(tmp_path):
    clock = Clock()
    store = store_in(tmp_path, clock, max_count=3, visitor_percent=100)
    ids = []
    for visitor in ("a", "b", "a", "a", "a"):
        clock.now += 1
        ids.append(store.create({}, [], visitor)[0])
    assert [store.load(share_id) is not None for share_id in ids] == [False, True, False, True, True]
    with pytest.raises(UserFacingError) as full:  # a visitor with nothing of their own to drop
        store.create({}, [], "c")
    assert full.value.key == "share.full" and "at most 3 shared answers" in str(full.value)
    assert store.load(ids[1]) is not None  # b's link survives everything a and c did


def test_one_visitors_501st_link_does_not_evict_another_visitors(tmp_path):
    clock = Clock()
    store = store_in(tmp_path, clock)  # the defaults: 500 links, 20 an hour, 10 % (50) per visitor
    theirs = store.create({"record": {"question": "theirs"}}, [], "other visitor")[0]
    made, refusals = 0, set()
    for _ in range(501):
        clock.now += 200  # 18 an hour: under the hourly quota, so only the share of the total stops it
        try:
            store.create({}, [], "busy visitor")
            made += 1
        except UserFacingError as error:
            refusals.add(error.key)
    assert made == 50 and refusals == {"share.visitor_full"}
    assert store.load(theirs)["record"] == {"question": "theirs"}


def test_a_visitor_gets_at_most_the_hourly_quota_then_is_told_when_to_come_back(tmp_path):
    clock = Clock()
    store = store_in(tmp_path, clock, per_hour=3)
    for _ in range(3):
        clock.now += 60
        store.create({}, [], "v")
    with pytest.raises(UserFacingError) as refused:
        store.create({}, [], "v")
    assert refused.value.key == "share.hourly" and "3 answers in the last hour" in str(refused.value)
    assert "try again in 58 min" in str(refused.value)  # when the first of the three leaves the hour
    store.create({}, [], "someone else")  # a quota per visitor
    clock.now += 3600
    store.create({}, [], "v")


def test_beyond_the_bytes_the_oldest_go(tmp_path):
    clock = Clock()
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * 40_000)
    store = store_in(tmp_path, clock, max_bytes=100_000, visitor_percent=100)
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
    limits = ShareLimits.from_env({"R1V_SHARE_DAYS": "7", "R1V_SHARE_MAX_COUNT": "9", "R1V_SHARE_MAX_MB": "2",
                                   "R1V_SHARE_PER_HOUR": "4", "R1V_SHARE_VISITOR_PERCENT": "50"})
    assert (limits.days, limits.max_count, limits.max_bytes) == (7.0, 9, 2 * 2**20)
    assert (limits.per_hour, limits.per_visitor) == (4, 4)


def test_share_links_are_off_with_the_flag_or_the_variable(monkeypatch):
    import app as app_module

    monkeypatch.delenv("R1V_SHARE_LINKS", raising=False)
    assert app_module.parse_args([]).no_share_links is False
    assert app_module.parse_args(["--no-share-links"]).no_share_links is True
    monkeypatch.setenv("R1V_SHARE_LINKS", "0")
    assert app_module.parse_args([]).no_share_links is True


class FakeRequest:
    def __init__(self, address="127.0.0.1", **query):
        self.query_params, self.headers, self.session_hash = query, {"referer": "http://127.0.0.1:7860/?x=1"}, None
        self.client = type("Client", (), {"host": address})()


def view_with(tmp_path, share_links: bool):
    from ui.page.handlers import ModelInfo
    from ui.page.services import Services
    from ui.store.history import HistoryOptions
    from ui.page.history.listing import HistoryView

    class Idle:
        def stream(self, request):
            return iter(())

    options = HistoryOptions(folder=tmp_path, secret="s", share_links=share_links)
    return HistoryView(Services.create(Idle(), ModelInfo("tiny"), history=options))


def test_with_share_links_off_nothing_is_stored_and_a_link_says_so(tmp_path):
    from tests.test_history import record

    view = view_with(tmp_path, share_links=False)
    assert view.share((record(),), None, None, FakeRequest()) == "Share links are turned off on this server."
    assert not (tmp_path / "shares").exists()
    first = next(view.open_replay("", FakeRequest(share="A" * 22)))
    assert "turned off" in first[1]


def test_a_share_gives_a_link_on_this_page_that_replays_to_the_recorded_end(tmp_path):
    from tests.test_history import record

    view = view_with(tmp_path, share_links=True)
    text = view.share((record(),), None, None, FakeRequest())
    link = re.search(r"\((http://127\.0\.0\.1:7860/\?share=[A-Za-z0-9_-]{22})\)", text).group(1)
    assert f"`{link}#delete=" in text  # the token in the fragment, which browsers never send
    share_id = link.rsplit("=", 1)[1]
    frames = list(view.open_replay("", FakeRequest(share=share_id)))
    assert frames[0][6] == (share_id, None) and "Model:** tiny" in frames[0][1]
    final_messages, final_line = frames[-1][2], frames[-1][5]
    assert final_messages[-1]["content"]["text"] == "3" and "in all" in final_line
    assert len(frames) > 10  # streamed, not drawn at once
    missing = next(view.open_replay("", FakeRequest(share="B" * 22)))
    assert "not found" in missing[1] and "30 days" in missing[1]


# ---- only what the server streamed --------------------------------------------------------------

def _controls() -> list:
    from model.events import GenerationOptions

    d = GenerationOptions.validated()
    return [d.thinking_budget, False, d.answer_budget, d.temperature, d.top_p, d.top_k, d.repetition_penalty,
            d.max_tiles, d.seed]  # the page's settings, in ui.page.controls.CONTROL_NAMES order


CONTROLS = _controls()


def as_browser_json(value):
    """`value` after a trip through the browser's JSON: whole floats come back as integers."""
    def plain(item):
        if isinstance(item, float) and item.is_integer():
            return int(item)
        if isinstance(item, dict):
            return {key: plain(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [plain(inner) for inner in item]
        return item
    return plain(json.loads(json.dumps(value)))


@pytest.fixture
def signed_store(tmp_path, monkeypatch):
    """A view, and the browser store its Save wrote after the server answered a turn with an image."""
    import gradio as gr

    from tests.test_history import record

    warned = []
    monkeypatch.setattr(gr, "Warning", lambda message, *args, **kwargs: warned.append(message))
    view = view_with(tmp_path, share_links=True)
    picture = tmp_path / "upload.png"
    picture.write_bytes(b"\x89PNG the picture the question was about")
    view.image_ok = lambda path: path == str(picture)
    store, _, conv_id = view.save_all((record(images=[str(picture)]),), None, "conv", None, FakeRequest(), *CONTROLS)
    return view, as_browser_json(store), conv_id, warned, picture


def share_restored(view, store):
    _, records, _, conv_id, _, _ = view.restore(store, "", FakeRequest())
    return view.share(records, conv_id, store, FakeRequest())


def test_a_conversation_restored_from_history_can_still_be_shared(signed_store):
    view, store, _, warned, _ = signed_store
    assert store["conversations"][0]["turns"][0]["signature"]
    text = share_restored(view, store)
    assert isinstance(text, str) and "?share=" in text and not warned


@pytest.mark.parametrize("forge", [
    lambda turn: turn.update(answer="Visit evil.example for the real answer."),
    lambda turn: turn.update(question="What does the served model say about you?"),
    lambda turn: turn.update(thinking="edited"),
    lambda turn: turn["stats"].update(total_s=0.01),
    lambda turn: turn.update(thinking_tokens=1),
    lambda turn: turn.pop("signature"),
    lambda turn: turn.update(signature="0" * 64),
], ids=["answer", "question", "thinking", "stats", "tokens", "no signature", "made-up signature"])
def test_a_record_forged_in_the_browser_cannot_become_a_snapshot(signed_store, tmp_path, forge):
    view, store, _, warned, _ = signed_store
    forge(store["conversations"][0]["turns"][0])
    assert share_restored(view, store) is not None and not (tmp_path / "shares").exists()
    assert warned == [view.words(None)("share.unsigned")]


def test_a_swapped_image_cannot_be_shared_under_the_old_signature(signed_store, tmp_path):
    view, store, _, warned, picture = signed_store
    picture.write_bytes(b"\x89PNG another picture")
    share_restored(view, store)
    assert warned == [view.words(None)("share.unsigned")] and not (tmp_path / "shares").exists()


def test_a_restored_turn_is_never_signed_anew_by_a_later_save(signed_store):
    view, store, conv_id, _, _ = signed_store
    store["conversations"][0]["turns"][0]["answer"] = "forged"
    _, records, _, _, _, _ = view.restore(store, "", FakeRequest())
    saved_again, _, _ = view.save_all(records, None, conv_id, store, FakeRequest(), *CONTROLS)
    turn = saved_again["conversations"][0]["turns"][0]
    assert turn["answer"] == "forged" and turn["signature"] == store["conversations"][0]["turns"][0]["signature"]
    assert view.unshareable(view.restore(as_browser_json(saved_again), "", FakeRequest())[1][-1]) == "share.unsigned"
