"""The console's editors of the feature pages in a real Chromium: the charging profile library
(add, edit, install on a station, clear, delete), sites (create, limit, member station, live
allocation per transaction), firmware campaigns (live per-station progress, cancel) and the
security page (profile counts, a station's certificates: list, delete, renew). Every action is
done through the page and checked in the API and at the station afterwards."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call

from tests.console.conftest import Console, wait_text


async def test_profile_library_and_sites_edited_from_the_console(console: Console) -> None:
    csms = console.csms
    cp = await csms.connect("CP7")  # the `ocpp` package's ChargePoint (tests/support)
    await cp.booted()
    await csms.add_tag("TAG7")
    page = await console.page("olivia")
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto("/#/smart-charging")
    await page.wait_for_selector("#live-state.on")

    # Library: add a profile with the form.
    await page.fill("#p-name", "Night")
    await page.fill("#p-stack", "1")
    await page.select_option("#p-kind", "Relative")
    await page.fill("#p-periods", "0 16\n3600 10")
    await page.click("#profile-form button[type=submit]")
    await wait_text(page, "#library", "Night")
    [stored] = (await csms.api.get("/charging-profiles")).json()
    schedule = stored["profile"]["chargingSchedule"]
    assert stored["name"] == "Night" and stored["profile"]["stackLevel"] == 1
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16},
        {"startPeriod": 3600, "limit": 10},
    ]
    # A bad period line is refused in the page, nothing sent.
    await page.fill("#p-periods", "0 sixteen")
    await page.click("#profile-form button[type=submit]")
    await wait_text(page, "#toasts", "Period line 1")
    assert len((await csms.api.get("/charging-profiles")).json()) == 1

    # Edit it: the form is filled from the library, saving replaces it under the same id.
    await page.click(f"[data-profile='{stored['id']}'] >> text=Edit")
    assert await page.input_value("#p-periods") == "0 16\n3600 10"
    await page.fill("#p-periods", "0 12")
    await page.click("#profile-form button[type=submit]")
    await wait_text(page, "#library", "0s: 12 A")
    edited = (await csms.api.get(f"/charging-profiles/{stored['id']}")).json()
    assert edited["profile"]["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 12}
    ]

    # Install it on CP7 connector 1, then clear it by id.
    await page.fill("#sc-station", "CP7")
    await page.fill("#sc-connector", "1")
    await page.select_option("#sc-profile", str(stored["id"]))
    await page.click("#sc-install")
    await wait_text(page, "#toasts", "SetChargingProfile: Accepted")
    sent = cp.sent("SetChargingProfile")[-1]
    assert sent["connectorId"] == 1
    assert sent["csChargingProfiles"]["chargingProfileId"] == stored["id"]
    assert (
        sent["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 12
    )
    await page.click("#sc-clear-one")
    await wait_text(page, "#toasts", "ClearChargingProfile: Accepted")
    assert cp.sent("ClearChargingProfile")[-1] == {"id": stored["id"]}
    # Sites: create, put CP7 in, lower the limit; a transaction then gets its share live.
    await page.fill("#site-id", "depot")
    await page.fill("#site-description", "Depot")
    await page.fill("#site-limit", "32")
    await page.click("#site-form button[type=submit]")
    card = "[data-site='depot']"
    await page.wait_for_selector(card)
    await page.fill(f"{card} .site-add input", "CP7")
    await page.click(f"{card} .site-add button[type=submit]")
    await wait_text(page, f"{card} .members", "CP7")
    await page.fill(f"{card} .site-edit input[name=limit]", "20")
    await page.click(f"{card} .site-edit button[type=submit]")
    await wait_text(page, card, "Limit\\s*20 A")
    site = (await csms.api.get("/sites/depot")).json()
    assert site["limit"] == 20 and site["stations"] == ["CP7"] and site["description"] == "Depot"
    tx = await cp.charging("TAG7")
    await wait_text(page, f"{card} .allocation", rf"{tx}\s+CP7\s+1\s+20(\.0)? A")
    allocation = (await csms.api.get("/sites/depot/allocation")).json()["allocation"]
    assert [(a["transactionId"], a["limit"]) for a in allocation] == [(tx, 20)]
    await console.shot(page, "smart-charging-sites")
    await cp.stop_transaction(tx)
    await wait_text(page, f"{card} .allocation", "No running transaction")
    # Delete it from the library (after the confirmation dialog).
    await page.click(f"[data-profile='{stored['id']}'] >> text=Delete")
    await wait_text(page, "#library", "No profiles in the library")
    assert (await csms.api.get("/charging-profiles")).json() == []

    # A viewer sees the same pages without any editing control (the API refuses anyway).
    viewer = await console.page("victor")
    await viewer.goto("/#/smart-charging")
    await viewer.wait_for_selector("[data-site='depot'] .allocation")
    for selector in ("#profile-form", "#site-form", "#sc-install", ".site-edit", ".site-add"):
        assert await viewer.locator(selector).count() == 0, selector
    refused = await viewer.evaluate(
        """fetch('/api/v1/auth/me').then((r) => r.json()).then((me) =>
             fetch('/api/v1/sites/depot',
                   {method: 'DELETE', headers: {'X-CSRF-Token': me.csrfToken}}))
           .then((r) => r.status)"""
    )  # with a valid session and CSRF token: refused for the role
    assert refused == 403 and (await csms.api.get("/sites/depot")).status_code == 200


async def test_campaign_cancelled_and_station_certificates_from_the_console(
    console: Console,
) -> None:
    csms = console.csms
    cp = await csms.connect("CP8")
    await cp.booted()
    assert (await csms.api.post("/stations", json={"id": "CP9"})).status_code == 201
    image = await csms.api.post(
        "/firmware", files={"file": ("fw.bin", b"\x01" * 64)}, data={"version": "2.0"}
    )
    assert image.status_code == 201, image.text
    page = await console.page("olivia")
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto("/#/firmware")
    await page.wait_for_selector("#live-state.on")
    # Start the campaign from the form: one station at a time, so CP9 waits for CP8.
    await page.select_option("#campaign-form [name=firmwareId]", str(image.json()["id"]))
    await page.fill("#campaign-form [name=stations]", "CP8, CP9")
    await page.fill("#campaign-form [name=name]", "spring")
    await page.fill("#campaign-form [name=concurrency]", "1")
    await page.click("#campaign-form button[type=submit]")
    await wait_text(page, "#toasts", r"Campaign \d+ started")
    [started] = (await csms.api.get("/firmware-campaigns")).json()
    number = started["id"]
    assert started["name"] == "spring" and started["concurrency"] == 1
    await cp.wait_for("UpdateFirmware")
    await page.click("#campaigns summary")
    await cp.call(call.FirmwareStatusNotification(status="Downloading"))
    await wait_text(page, "#campaigns", "Downloading")  # live, and the list stays unfolded
    await page.click("#campaigns >> text=Cancel")
    await wait_text(page, "#campaigns", "cancelled")
    view = (await csms.api.get(f"/firmware-campaigns/{number}")).json()
    assert view["status"] == "cancelled"
    assert {s["stationId"]: s["state"] for s in view["stations"]}["CP9"] == "cancelled"
    assert len(cp.sent("UpdateFirmware")) == 1  # CP9 never got it
    # Upload an image from the form, then delete it.
    await page.set_input_files(
        "#firmware-upload input[type=file]",
        files=[{"name": "fw3.bin", "mimeType": "application/octet-stream", "buffer": b"\x03" * 32}],
    )
    await page.fill("#firmware-upload [name=version]", "3.0")
    await page.click("#firmware-upload button[type=submit]")
    await wait_text(page, "#firmware-images", "fw3.bin")
    uploaded = {i["version"]: i for i in (await csms.api.get("/firmware")).json()}
    assert uploaded["3.0"]["size"] == 32 and uploaded["3.0"]["filename"] == "fw3.bin"
    await page.click("#firmware-images tr:has-text('fw3.bin') >> text=Delete")
    await wait_text(page, "#toasts", f"Image {uploaded['3.0']['id']} deleted")
    assert [i["version"] for i in (await csms.api.get("/firmware")).json()] == ["2.0"]
    await console.shot(page, "firmware")

    # Local lists: CP8 only carries the FLEET group; sync it from the out-of-date list.
    await csms.add_tag("TAG8", parentIdTag="FLEET")
    await csms.add_tag("OTHER")
    await page.goto("/#/local-lists?stationId=CP8")  # as the station page links to it
    await wait_text(page, "#local-lists", "CP8")
    await wait_text(page, "#local-list", "Scope\\s*all tags")
    await page.fill("#ll-groups", "FLEET")
    await page.click("#ll-save")
    await wait_text(page, "#local-list", "Scope\\s*groups: FLEET")
    scope = (await csms.api.get("/stations/CP8/local-list")).json()["scope"]
    assert scope == {"groups": ["FLEET"]}
    await page.click("#local-lists tr:has-text('CP8') >> text=Sync")
    await wait_text(page, "#toasts", "CP8: ")
    sent = cp.sent("SendLocalList")[-1]
    assert [e["idTag"] for e in sent["localAuthorizationList"]] == ["TAG8"]
    stale = (await csms.api.get("/local-lists/out-of-date")).json()
    assert [s["stationId"] for s in stale] == ["CP9"]
    await wait_text(page, "#local-lists", "^(?![\\s\\S]*CP8)")

    # Security: stations per profile, then CP8's certificates.
    cp.answers["GetInstalledCertificateIds"] = {
        "status": "Accepted",
        "certificateHashData": [
            {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a" * 64,
                "issuerKeyHash": "b" * 64,
                "serialNumber": "7e57",
            }
        ],
    }
    await page.goto("/#/security")
    await wait_text(page, "#profile-counts", r"0 · no authentication\s+2")
    # From the station page's link: the station is filled in and shown.
    await page.goto("/#/stations/CP8")
    await page.click("text=Security, certificates →")
    await wait_text(page, "#station-security", "Security profile\\s*0 · no authentication")
    await page.select_option("#sec-cert-type", "ManufacturerRootCertificate")
    await page.click("#sec-list")
    await wait_text(page, "#station-security", "7e57")
    assert cp.sent("GetInstalledCertificateIds")[-1] == {
        "certificateType": "ManufacturerRootCertificate"
    }
    installed = (await csms.api.get("/stations/CP8/certificates")).json()["installed"]
    assert [c["serialNumber"] for c in installed] == ["7e57"]
    await page.click("#station-security >> text=Delete (DeleteCertificate)")
    await wait_text(page, "#toasts", "DeleteCertificate: Accepted")
    assert cp.sent("DeleteCertificate")[-1]["certificateHashData"]["serialNumber"] == "7e57"
    await page.click("#sec-renew")
    await wait_text(page, "#toasts", "ExtendedTriggerMessage: Accepted")
    assert cp.sent("ExtendedTriggerMessage")[-1] == {
        "requestedMessage": "SignChargePointCertificate"
    }
    await console.shot(page, "security")
