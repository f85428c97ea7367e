"""Who gets in: device tokens checked before the upgrade (401/403/429), a device cannot speak for
another, revoked tokens lose their connection, the operator's API needs its token or login."""

import asyncio
import os

import aiohttp
from websockets.asyncio.client import connect

from test_server_kit import OPERATOR, FakeBoard, Running, refused, run


def test_a_good_token_gets_a_welcome_and_the_device_shows_online(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            welcome = await board.connect(s.device_url)
            assert welcome["v"] == 1 and welcome["acked"] == 0 and welcome["lease"] == 60_000
            assert type(welcome["time"]) is int
            st, body = await s.api("GET", "/api/devices/d1")
            assert st == 200 and body["device"]["state"] == "online" and body["device"]["fw"] == "test"
            assert body["device"]["relays"] == [
                {"name": "heater", "on": False},
                {"name": "pump", "on": False},
            ]
            await board.close()

    run(main())


def test_missing_unknown_and_foreign_tokens_are_refused_before_the_upgrade(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            t1 = s.add("d1")
            s.add("d2")
            status, headers, body = await refused(s.device_url, {"X-Device-Id": "d1"})
            assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
            assert "missing device token" in body["error"]["message"]
            status, _, body = await refused(
                s.device_url, {"Authorization": "Bearer nope", "X-Device-Id": "d1"}
            )
            assert status == 401 and "unknown or revoked" in body["error"]["message"]
            status, _, body = await refused(
                s.device_url, {"Authorization": "Bearer " + t1, "X-Device-Id": "d2"}
            )
            assert status == 403 and "'d2' does not own this token" in body["error"]["message"]
            assert not s.server.links

    run(main())


def test_rotated_and_removed_tokens_are_refused_and_lose_their_connection(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            old = s.add("d1")
            board = FakeBoard("d1", old)
            await board.connect(s.device_url)
            st, body = await s.api("POST", "/api/devices/d1/token")
            assert st == 200 and body["token"] != old
            code, reason = await board.closed()
            assert code == 1008 and "token rotated" in reason
            assert (await refused(s.device_url, {"Authorization": "Bearer " + old}))[0] == 401
            # the command line changes the database directly: the running server notices
            board = FakeBoard("d1", body["token"])
            await board.connect(s.device_url)
            s.db.remove_device("d1")
            code, reason = await board.closed()
            assert code == 1008 and "removed or its token rotated" in reason
            assert (await refused(s.device_url, {"Authorization": "Bearer " + body["token"]}))[0] == 401

    run(main())


def test_a_device_cannot_speak_for_another(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            s.add("d2")
            board = FakeBoard("d1", s.add("d1"))  # d1's token, no X-Device-Id header, d2 in the hello
            auth = {"Authorization": "Bearer " + board.token}
            board.ws = await connect(s.device_url, additional_headers=auth, proxy=None)
            await board.send({"type": "hello", "v": 1, "device": "d2", "seq": 1})
            code, reason = await board.closed()
            assert (
                code == 1008 and "hello.device 'd2' is not the device this token belongs to ('d1')" in reason
            )
            st, body = await s.api("GET", "/api/devices/d2")
            assert body["device"]["state"] == "offline"
            st, body = await s.api("GET", "/api/devices/d1/events")
            assert any(
                e["kind"] == "error" and "hello.device" in e["data"]["message"] for e in body["events"]
            )

    run(main())


def test_too_many_failed_authentications_get_429_with_retry_after(tmp_path):
    async def main():
        async with Running(tmp_path, max_auth_failures=3, auth_window_s=30) as s:
            good = s.add("d1")
            for _ in range(3):
                assert (await refused(s.device_url, {"Authorization": "Bearer wrong"}))[0] == 401
            status, headers, body = await refused(s.device_url, {"Authorization": "Bearer " + good})
            assert status == 429 and 1 <= int(headers["Retry-After"]) <= 30
            assert "too many failed authentications" in body["error"]["message"]
            st, _ = await s.api("GET", "/api/devices")  # the operator API shares the budget per address
            assert st == 429

    run(main())


def test_a_plain_http_request_to_the_device_endpoint_is_told_what_is_needed(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            token = s.add("d1")
            st, body = await s.api("GET", "/device", headers={"Authorization": "Bearer " + token})
            assert st == 400 and "WebSocket upgrade" in body["error"]["message"]

    run(main())


def test_the_api_needs_the_operator_token_or_a_login(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            jar = aiohttp.CookieJar(unsafe=True)  # keeps cookies of an IP address, as browsers do
            async with aiohttp.ClientSession(cookie_jar=jar) as anon:
                st, body = await s.api("GET", "/api/devices", session=anon)
                assert st == 401 and "operator token needed" in body["error"]["message"]
                st, _ = await s.api(
                    "GET", "/api/devices", headers={"Authorization": "Bearer wrong"}, session=anon
                )
                assert st == 401
                st, body = await s.api("GET", "/api/health", session=anon)
                assert st == 200 and body["ok"] and body["protocol"] == 1
                st, _ = await s.api("POST", "/api/login", {"token": "wrong"}, session=anon)
                assert st == 401
                st, _ = await s.api("POST", "/api/login", {"token": OPERATOR}, session=anon)
                assert st == 200
                st, body = await s.api("GET", "/api/devices", session=anon)  # the cookie does it now
                assert st == 200 and body == {"devices": []}
                with_query = "%s/api/devices?token=%s" % (s.url, OPERATOR)  # only /api/live takes ?token=
                async with aiohttp.ClientSession() as other, other.get(with_query) as r:
                    assert r.status == 401
                st, _ = await s.api("POST", "/api/logout", session=anon)
                anon.cookie_jar.clear()
                st, _ = await s.api("GET", "/api/devices", session=anon)
                assert st == 401

    run(main())


def test_devices_are_added_and_removed_through_the_api(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            st, body = await s.api("POST", "/api/devices", {"id": "new-1"})
            assert st == 201 and body["device"]["state"] == "offline" and len(body["token"]) >= 32
            assert s.db.device_by_token(body["token"])[0] == "new-1"
            files = b"".join((tmp_path / "data" / f).read_bytes() for f in os.listdir(s.data))
            assert body["token"].encode() not in files  # only its keyed hash is stored
            assert s.db.hash_token(body["token"]).encode() in files
            st, again = await s.api("POST", "/api/devices", {"id": "new-1"})
            assert st == 409 and "exists" in again["error"]["message"]
            st, bad = await s.api("POST", "/api/devices", {"id": "no spaces"})
            assert st == 400 and "letters, digits" in bad["error"]["message"]
            st, _ = await s.api("DELETE", "/api/devices/new-1")
            assert st == 200
            st, gone = await s.api("GET", "/api/devices/new-1")
            assert st == 404 and gone["error"]["code"] == "not_found"

    run(main())


def test_a_new_connection_replaces_the_old_one_with_4003(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            token = s.add("d1")
            first, second = FakeBoard("d1", token), FakeBoard("d1", token)
            await first.connect(s.device_url)
            await second.connect(s.device_url)
            code, reason = await first.closed()
            assert code == 4003 and "replaced" in reason
            await asyncio.sleep(0.1)
            st, body = await s.api("GET", "/api/devices/d1")
            assert body["device"]["state"] == "online"  # the old one's end does not take the device offline
            assert s.server.links["d1"].ws is not None
            await second.close()

    run(main())
