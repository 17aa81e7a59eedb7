"""The console in a real Chromium: log in, watch a station come online, charge through it from
the browser with live power, stop, export CSV, edit configuration, roles, CSRF, rate limit."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from ocpp.v16 import call

from tests.console.conftest import PASSWORD, Console, login
from tests.console.conftest import wait_text as _wait_text
from watthub.timeutil import now_ts


async def test_station_comes_online_live_and_charges_from_the_console(console: Console) -> None:
    csms = console.csms
    await csms.add_tag("TAG1")
    page = await console.page("olivia")  # an operator
    await page.wait_for_selector("#tile-online")
    assert (await page.inner_text("#tile-online")).startswith("0")

    # Register the station through the console's form.
    await page.click("#nav >> text=Stations")
    await page.click("#add-station")
    await page.fill("#f-id", "CP1")
    await page.fill("#f-description", "Car park, bay 1")
    await page.click("#station-form button[type=submit]")
    await page.wait_for_url(re.compile(r"#/stations/CP1$"))
    await _wait_text(page, "#connection", "offline")

    # Back to the overview: the station connects and it is counted online without a reload.
    await page.click("#nav >> text=Overview")
    await page.wait_for_selector("#tile-online")
    console.simulate("CP1", meter_interval=0.5)
    await _wait_text(page, "#tile-online", r"^1")
    await _wait_text(page, "#recent-events", r"CP1.*booted \(Accepted\)|booted \(Accepted\)")
    await console.shot(page, "overview")

    # The station page: its connector appears live, then a remote start from the browser.
    await page.goto("/#/stations/CP1")
    await _wait_text(page, "#connection", "online")
    await _wait_text(page, "[data-connector='1']", "Available")
    await page.fill("#idtag-1", "TAG1")
    await page.click("[data-connector='1'] >> text=Start charging")
    card = "[data-connector='1']"
    await _wait_text(page, card, "Charging")
    await _wait_text(page, card, r"Transaction \d+")
    power = await _wait_text(page, f"{card} [data-power]", r"[1-9]\.\d\d kW")
    assert 6.0 <= float(power.split()[0]) <= 7.5  # the simulator draws 6.5–7.4 kW
    await _wait_text(page, "#sec-message", "MeterValues")
    await console.shot(page, "station")

    # The transaction page: its power chart is drawn and grows live.
    await page.click(f"{card} >> text=/Transaction \\d+/")
    await page.wait_for_selector("#tx-charts svg")
    tx_id = int(page.url.rsplit("/", 1)[1])
    first = await page.get_attribute("#tx-charts svg path.line", "d")
    await page.wait_for_function(
        "d => document.querySelector('#tx-charts svg path.line').getAttribute('d') !== d", arg=first
    )  # the chart grows live
    label = await page.locator("#tx-charts svg").first.get_attribute("aria-label")
    assert "Power" in label and "kW" in label
    await console.shot(page, "transaction")

    # Stop it from the browser; the page turns to finished with the energy.
    await page.click("#tx-stop")
    await _wait_text(page, "#tx-state", "finished")
    energy = await _wait_text(page, "#tx-energy", r"\d+\.\d\d kWh")
    response = await csms.api.get(f"/transactions/{tx_id}")
    tx = response.json()
    assert tx["stopReason"] == "Remote" and tx["active"] is False
    assert energy == f"{tx['energyWh'] / 1000:.2f} kWh"

    # The list and its CSV export (same filters).
    await page.goto("/#/transactions")
    await page.fill("#tx-station", "CP1")
    await page.click("form.toolbar button[type=submit]")
    await page.wait_for_selector(f"[data-tx='{tx_id}']")
    await console.shot(page, "transactions")
    async with page.expect_download() as download_info:
        await page.click("#tx-csv")
    download = await download_info.value
    content = await asyncio.to_thread(Path(await download.path()).read_text, "utf-8")
    header, *lines = content.strip().splitlines()
    assert header.startswith("id,stationId,connectorId,idTag")
    assert lines and lines[0].startswith(f"{tx_id},CP1,1,TAG1,")


async def test_a_live_update_keeps_what_the_operator_is_typing(console: Console) -> None:
    """Status and meter events redraw the connector cards; an id tag half typed into one (and
    the focus) survives it, so "Start charging" sends what the operator typed."""
    cp = await console.csms.connect("CP9")
    await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
    status = {"connector_id": 1, "error_code": "NoError", "timestamp": now_ts()}
    await cp.call(call.StatusNotification(status="Available", **status))
    page = await console.page("olivia")
    await page.goto("/#/stations/CP9")
    card = "[data-connector='1']"
    await _wait_text(page, card, "Available")
    await page.fill("#idtag-1", "TAG9")
    await cp.call(call.StatusNotification(status="Preparing", **status))
    await _wait_text(page, card, "Preparing")
    assert await page.input_value("#idtag-1") == "TAG9"
    assert await page.evaluate("document.activeElement && document.activeElement.id") == "idtag-1"


async def test_configuration_refresh_and_edit(console: Console) -> None:
    page = await console.page("olivia")
    await console.csms.add_station("CP2")
    console.simulate("CP2")
    await page.goto("/#/stations/CP2")
    await _wait_text(page, "#connection", "online")
    await page.click("#config-refresh")
    row = "#configuration [data-key='HeartbeatInterval']"
    await page.wait_for_selector(row)
    await page.fill(f"{row} input", "120")
    await page.click(f"{row} >> text=Save")
    await _wait_text(page, "#toasts", "ChangeConfiguration: Accepted")
    stored = (await console.csms.api.get("/stations/CP2/configuration")).json()
    assert {"key": "HeartbeatInterval", "value": "120"}.items() <= next(
        c for c in stored if c["key"] == "HeartbeatInterval"
    ).items()
    # The station's audit trail names who sent it, live.
    audit = await _wait_text(page, "#station-audit", "ChangeConfiguration")
    assert "olivia" in audit
    # The message log shows the ChangeConfiguration that went out, with its payload.
    await page.select_option("#log-direction", "out")
    await _wait_text(page, "#sec-message tbody", "ChangeConfiguration")

    # A typed form generated from the OCPP schema: Reset, Soft.
    await page.select_option("#command-action", "Reset")
    await page.select_option("#command-form select[name=type]", "Soft")
    await page.click("#command-form button[type=submit]")
    result = await _wait_text(page, "#command-result", "Accepted")
    assert '"type": "Soft"' in result
    await console.shot(page, "station-commands")

    # Edit the station's settings, security profile included (with the reason for its history).
    await page.click("#edit-station")
    await page.fill("#f-description", "Depot")
    await page.fill("#f-heartbeat", "60")
    await page.select_option("#f-validationPolicy", "lenient")
    await page.select_option("#f-securityProfile", "1")
    await page.fill("#f-reason", "Basic auth from now on")
    await page.click("#station-form button[type=submit]")
    await page.wait_for_url(re.compile(r"#/stations/CP2$"))
    station = (await console.csms.api.get("/stations/CP2")).json()
    assert (station["description"], station["heartbeatInterval"]) == ("Depot", 60)
    assert (station["validationPolicy"], station["securityProfile"]) == ("lenient", 1)
    history = (await console.csms.api.get("/stations/CP2/security-profile")).json()
    assert "Basic auth from now on" in str(history["changes"])


async def test_viewer_sees_no_command_and_the_api_refuses(console: Console) -> None:
    await console.csms.add_station("CP3")
    console.simulate("CP3")
    page = await console.page("victor")  # a viewer
    await page.goto("/#/stations/CP3")
    await _wait_text(page, "[data-connector='1']", "Available")
    assert await page.locator("text=Start charging").count() == 0
    assert await page.locator("#sec-commands").count() == 0
    assert await page.locator("#edit-station").count() == 0
    assert await page.locator("#config-refresh").count() == 0
    assert await page.locator("#nav a[href='#/users']").is_hidden()
    await page.goto("/#/stations/new")  # typed by hand: a clear page, not a broken form
    await _wait_text(page, "main", "this page needs the operator role")
    await page.goto("/#/stations/CP3")
    # The API refuses the viewer's command even with a valid session and CSRF token.
    answer = await page.evaluate(
        """async () => {
            const me = await (await fetch('/api/v1/auth/me')).json();
            const r = await fetch('/api/v1/stations/CP3/ocpp/RemoteStartTransaction', {
                method: 'POST', headers: {'Content-Type': 'application/json',
                'X-CSRF-Token': me.csrfToken}, body: JSON.stringify({idTag: 'TAG1'})});
            return {status: r.status, body: await r.json()};
        }"""
    )
    assert answer["status"] == 403, answer
    assert "operator" in answer["body"]["detail"]


async def test_missing_csrf_token_is_refused(console: Console) -> None:
    page = await console.page("ada")
    answer = await page.evaluate(
        """async () => {
            const r = await fetch('/api/v1/stations', {method: 'POST',
                headers: {'Content-Type': 'application/json'}, body: JSON.stringify({id: 'CPX'})});
            return {status: r.status, body: await r.json()};
        }"""
    )
    assert answer["status"] == 403
    assert "X-CSRF-Token" in answer["body"]["detail"]
    assert (await console.csms.api.get("/stations/CPX")).status_code == 404


async def test_wrong_password_refused_then_rate_limited(console: Console) -> None:
    page = await console.page(None)
    limit = console.csms.hub.settings.login_max_failures
    for _ in range(limit):
        await page.fill("#username", "olivia")
        await page.fill("#password", "wrong password")
        await page.click("button[type=submit]")
        await _wait_text(page, "#login-error", "Wrong user name or password")
        await page.evaluate("document.getElementById('login-error').textContent = ''")
    await console.shot(page, "login")
    await page.fill("#password", PASSWORD)  # even the right one, now
    await page.press("#password", "Enter")  # the keyboard submits the form too
    await _wait_text(page, "#login-error", "Too many attempts")
    assert await page.locator("header.top").is_hidden()


async def test_logout_and_phone_width(console: Console) -> None:
    page = await console.page("ada", viewport={"width": 390, "height": 844})
    await page.wait_for_selector("#tile-total")
    assert await page.locator("#nav").is_hidden()  # folded behind the menu button
    await page.click(".menu-toggle")
    assert await page.locator("#nav").is_visible()
    await console.shot(page, "overview-phone")
    # No horizontal scrolling of the page at phone width.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    # A 48-character id (an EVSE-id-like identity) wraps instead of widening the page.
    long_id = "DE*WHB*E" + "1234567890" * 4
    await console.csms.add_station(long_id)
    await page.goto(f"/#/stations/{long_id}")
    await page.wait_for_selector("#sec-message")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    # The busiest page fits too: station with connectors, configuration, commands, log.
    await console.csms.add_station("CP6")
    console.simulate("CP6")
    await page.goto("/#/stations/CP6")
    await _wait_text(page, "[data-connector='1']", "Available")
    await _wait_text(page, "#sec-message tbody", "BootNotification")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await console.shot(page, "station-phone")
    await page.click(".menu-toggle")
    await page.click("#logout")
    await page.wait_for_selector("#username")
    me = await page.evaluate("fetch('/api/v1/auth/me').then(r => r.status)")
    assert me == 401
    await login(page, "ada")
    await _wait_text(page, "#connection", "online")  # back where the session ended


async def test_admin_manages_users_and_tokens_and_reads_the_audit_trail(console: Console) -> None:
    await console.csms.add_station("CP4")
    console.simulate("CP4")
    page = await console.page("ada")
    await page.goto("/#/users")
    await page.fill("#user-name", "nina")
    await page.select_option("#user-role", "viewer")
    await page.fill("#user-password", "nina-password-1")
    await page.click("#user-form button[type=submit]")
    await _wait_text(page, "#users", "nina")
    await page.fill("#token-name", "billing")
    await page.select_option("#token-role", "viewer")
    await page.click("#token-form button[type=submit]")
    secret = (await _wait_text(page, "#token-secret", r"\S{20,}")).strip()
    # The token works against the API with the role it was given.
    api = console.csms.api
    ok = await api.get("/stations", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200
    refused = await api.post(
        "/stations/CP4/ocpp/Reset",
        json={"type": "Soft"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert refused.status_code == 403
    await console.shot(page, "users")
    # A command from the console lands in the audit trail with its answer.
    await page.goto("/#/stations/CP4")
    await _wait_text(page, "#connection", "online")
    await page.select_option("#command-action", "ClearCache")
    await page.click("#command-form button[type=submit]")
    await _wait_text(page, "#command-result", "Accepted")
    await page.goto("/#/audit")
    text = await _wait_text(page, "#audit", "ClearCache")
    assert "ada" in text and "CP4" in text
    await console.shot(page, "audit")

    # Id tags: a CSV import from the browser; a bad file changes nothing and says which line.
    await page.goto("/#/id-tags")
    bad = b"idTag,status\nGOOD1,Accepted\nBAD1,Sometimes\n"
    await page.set_input_files(
        "#tag-csv", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad}]
    )
    await _wait_text(page, "#toasts", "Import refused, nothing changed: line 3")
    good = b"idTag,status,expiryDate,parentIdTag\nFLEET1,Accepted,,FLEET\nFLEET2,Blocked,,FLEET\n"
    await page.set_input_files(
        "#tag-csv", files=[{"name": "tags.csv", "mimeType": "text/csv", "buffer": good}]
    )
    await _wait_text(page, "#tags", "FLEET2")
    tags = {t["idTag"]: t for t in (await api.get("/id-tags")).json()}
    assert "GOOD1" not in tags and tags["FLEET2"]["status"] == "Blocked"
    assert tags["FLEET1"]["parentIdTag"] == "FLEET"
    # Parent groups: the group's button filters the list to its members.
    await page.click("#tag-groups >> text=FLEET (2)")
    assert await page.input_value("#tag-search") == "FLEET"
    rows = await page.locator("#tags tbody tr").all_inner_texts()
    assert len(rows) == 2 and all("FLEET" in r for r in rows)


async def test_feature_pages_render_with_live_data(console: Console) -> None:
    csms = console.csms
    cp = await csms.connect("CP5")  # the `ocpp` package's ChargePoint (tests/support)
    await cp.booted()
    profile = {
        "chargingProfileId": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": now_ts(),
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 32},
                {"startPeriod": 3600, "limit": 16},
            ],
        },
    }
    answer = await csms.api.post(
        "/stations/CP5/charging-profiles", json={"connectorId": 0, "chargingProfile": profile}
    )
    assert answer.json()["status"] == "Accepted", answer.text
    page = await console.page("olivia")
    await page.goto("/#/smart-charging")
    await page.fill("#sc-station", "CP5")
    await page.fill("#sc-connector", "1")
    await page.click("text=Show composite schedule")
    label = await page.get_attribute("#composite svg", "aria-label")
    # The second period starts an hour after the profile's start, seconds before "now".
    assert re.search(r"from 0s: 32 A; from 3[56]\d\ds: 16 A", label), label
    await console.shot(page, "smart-charging")

    await page.goto("/#/diagnostics?stationId=CP5")
    await page.click("#diag-request")
    await _wait_text(page, "#toasts", "GetDiagnostics: diagnostics.zip")
    assert cp.sent("GetDiagnostics")[-1]["location"].startswith("http")
    await cp.call(call.DiagnosticsStatusNotification(status="Uploading"))
    await _wait_text(page, "#diagnostics", "Uploading")  # live, on the firmware_status event

    await page.goto("/#/security")
    await page.wait_for_selector("#live-state.on")
    await cp.call(
        call.SecurityEventNotification(
            type="InvalidCentralSystemCertificate",
            timestamp="2026-01-01T00:00:00Z",
            tech_info="test",
        )
    )
    await _wait_text(page, "main", "InvalidCentralSystemCertificate")
    # A transaction whose station reports power per phase: one chart line per phase.
    await csms.add_tag("TAG5")
    tx = await cp.charging("TAG5")
    phases = [
        {"value": str(v), "measurand": "Power.Active.Import", "phase": ph, "unit": "W"}
        for ph, v in (("L1", 2300), ("L2", 2200), ("L3", 2100))
    ]
    for n, ts in enumerate(("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z")):
        energy = {"value": str(100 * n), "measurand": "Energy.Active.Import.Register"}
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[{"timestamp": ts, "sampledValue": [*phases, energy]}],
            )
        )
    await page.goto(f"/#/transactions/{tx}")
    legend = await _wait_text(page, "#tx-charts .legend", "Power L3")
    assert "Power L1" in legend and "Power L2" in legend
    # The most nested typed form: SetChargingProfile (objects in objects, an array of periods).
    await page.goto("/#/stations/CP5")
    await page.select_option("#command-action", "SetChargingProfile")
    form = "#command-form"
    await page.fill(f"{form} [name=connectorId]", "0")
    await page.fill(f"{form} [name=chargingProfileId]", "9")
    await page.fill(f"{form} [name=stackLevel]", "1")
    await page.select_option(f"{form} [name=chargingProfilePurpose]", "ChargePointMaxProfile")
    await page.select_option(f"{form} [name=chargingProfileKind]", "Relative")
    await page.select_option(f"{form} [name=chargingRateUnit]", "W")
    await page.click(f"{form} >> text=Add chargingSchedulePeriod item")
    await page.fill(f"{form} [name=startPeriod]", "0")
    await page.fill(f"{form} [name=limit]", "11000")
    await page.click(f"{form} button[type=submit]")
    await _wait_text(page, "#command-result", "The station answered")
    assert cp.sent("SetChargingProfile")[-1] == {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 9,
            "stackLevel": 1,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
            },
        },
    }

    # Reserve connector 1 of CP5 from the Reservations page, then cancel it.
    await page.goto("/#/reservations")
    await page.fill("#res-station", "CP5")
    await page.fill("#res-tag", "TAG5")
    await page.click("#reserve-form button[type=submit]")
    await _wait_text(page, "#toasts", r"ReserveNow: Accepted \(reservation \d+\)")
    await _wait_text(page, "#reservations", "active")
    assert cp.sent("ReserveNow")[-1]["idTag"] == "TAG5"
    await page.click("#reservations >> text=Cancel")
    await _wait_text(page, "#reservations", "cancelled")
    assert cp.sent("CancelReservation")
    for route, heading in [
        ("reservations", "Reservations"),
        ("local-lists", "Local lists"),
        ("firmware", "Firmware"),
    ]:
        await page.goto(f"/#/{route}")
        await _wait_text(page, "main h1", heading)
        await page.wait_for_selector("main table")
