#!/usr/bin/env python3
"""The operator console driven by a real browser (headless Chromium through selenium).

Run by tests/console/console_system_test.cc against a network it seeded (the name does not end
in _test.py: it needs that network, so it is not a ctest of its own). Steps:
  plain HTTP (python3-requests): the page is served; no cookie -> 401; unknown token or a token
  of someone who is not an operator -> 401; a POST without X-CSRF-Token -> 403;
  then the browser: sign in as the operator, overview, queues (requeue the dead letter), SLA
  board, alerts (the breach of --case arrives live; acknowledge it), case lookup (no personal
  data), audit, reports (SVG plots); sign out; sign in as the administrator: personal data shown.
Writes {"acked_alert_id": ...} to --result for the C++ side, which checks each act through the
command line. Screenshots of every view go to --screenshots when given.

With --pair-leader and --pair-standby it only signs in and checks the overview's line of a pair
of brokers (tests/console/console_pair_system_test.cc).

Exit status: 0 passed, 1 failed, 77 Chromium (or selenium) could not start: SKIP, said loudly.
"""
import argparse
import json
import os
import sys
import time

import requests

SKIP = 77


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("ok: " + message, flush=True)


def http_checks(args):
    base = args.url
    page = requests.get(base + "/", timeout=10)
    check(page.status_code == 200 and "text/html" in page.headers.get("Content-Type", ""),
          "GET / serves the web application")
    check("script-src 'self'" in page.headers.get("Content-Security-Policy", ""),
          "the page forbids scripts from elsewhere")
    for path in ["/app.js", "/app.css"]:
        check(requests.get(base + path, timeout=10).status_code == 200, "GET %s" % path)
    no_cookie = requests.get(base + "/api/overview", timeout=10)
    check(no_cookie.status_code == 401, "GET /api/overview without a session cookie is 401")
    check(no_cookie.headers.get("Content-Type", "").startswith("application/problem+json"),
          "... as a problem document")
    for name, token in [("an unknown token", "not-a-token"),
                        ("the token of someone not in [[operators]]", args.stranger_token)]:
        answer = requests.post(base + "/api/session", json={"token": token}, timeout=10)
        check(answer.status_code == 401, "signing in with %s is 401" % name)
    session = requests.Session()
    signed = session.post(base + "/api/session", json={"token": args.operator_token}, timeout=10)
    check(signed.status_code == 200, "the operator signs in")
    cookie = signed.headers.get("Set-Cookie", "")
    check("HttpOnly" in cookie and "SameSite=Strict" in cookie, "the session cookie is HttpOnly, SameSite=Strict")
    csrf = signed.json()["csrf_token"]
    check(len(csrf) == 64, "a CSRF token comes with the session")
    no_csrf = session.post(base + "/api/alerts/ack", json={"alert_id": "x"}, timeout=10)
    check(no_csrf.status_code == 403, "a POST without X-CSRF-Token is 403")
    wrong = session.post(base + "/api/alerts/ack", json={"alert_id": "x"},
                         headers={"X-CSRF-Token": "0" * 64}, timeout=10)
    check(wrong.status_code == 403, "a POST with another session's CSRF token is 403")
    overview = session.get(base + "/api/overview", timeout=10)
    check(overview.status_code == 200 and "stats" in overview.json(), "GET /api/overview with the cookie")
    out = session.post(base + "/api/session/end", headers={"X-CSRF-Token": csrf}, json={}, timeout=10)
    check(out.status_code == 200, "sign-out")
    check(session.get(base + "/api/overview", timeout=10).status_code == 401, "the session ended at sign-out")


def start_browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        print("SKIP: python3-selenium is not installed (%s)" % error, flush=True)
        sys.exit(SKIP)
    options = webdriver.ChromeOptions()
    options.add_argument("--headless=new")
    options.add_argument("--window-size=1280,900")
    options.add_argument("--disable-gpu")
    options.add_argument("--lang=fr-FR")  # the public the console is for
    options.add_argument("--disable-dev-shm-usage")
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")
    for binary in ["/usr/bin/chromium", "/usr/bin/chromium-browser"]:
        if os.path.exists(binary):
            options.binary_location = binary
            break
    try:
        return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    except Exception as error:  # WebDriverException, missing driver, no display...
        print("SKIP: Chromium could not start: %s" % str(error).splitlines()[0], flush=True)
        sys.exit(SKIP)


class Console:
    def __init__(self, driver, args):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        self.driver, self.args, self.By, self.Wait = driver, args, By, WebDriverWait

    def find(self, css):
        return self.driver.find_element(self.By.CSS_SELECTOR, css)

    def until(self, condition, what, seconds=20):
        try:
            # The page re-renders tables as data arrives: an element read while it is replaced
            # is stale, which only means "look again".
            from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
            return self.Wait(self.driver, seconds, poll_frequency=0.1,
                             ignored_exceptions=[NoSuchElementException, StaleElementReferenceException]
                             ).until(lambda d: condition())
        except Exception:
            self.shot("failure")
            fail("timed out waiting for: " + what + "\nstatus line: " + self.status())

    def status(self):
        try:
            return self.find("#status").text
        except Exception:
            return ""

    def visible(self, css):
        try:
            return self.find(css).is_displayed()
        except Exception:
            return False

    def shot(self, name):
        if self.args.screenshots:
            os.makedirs(self.args.screenshots, exist_ok=True)
            self.driver.save_screenshot(os.path.join(self.args.screenshots, name + ".png"))

    def sign_in(self, token, who):
        self.driver.get(self.args.url + "/")
        self.until(lambda: self.visible("#signin-token"), "the sign-in form")
        self.find("#signin-token").send_keys(token)
        self.find("#signin-submit").click()
        self.until(lambda: self.visible("#whoami") and who in self.find("#whoami").text, "signed in as " + who)

    def view(self, name):
        self.find("#nav-" + name).click()
        self.until(lambda: self.visible("#view-" + name), "the " + name + " view")

    def look_up(self, case_id):
        self.view("case")
        field = self.find("#case-id")
        field.clear()
        field.send_keys(case_id)
        self.find("#case-submit").click()
        self.until(lambda: self.visible("#case-result") or self.find("#case-error").text, "the case " + case_id)
        check(self.visible("#case-result"), "case %s found (%s)" % (case_id, self.find("#case-error").text))
        check(case_id in self.find("#case-meta").text, "the case's metadata shows its id")


def browser_checks(args):
    driver = start_browser()
    result = {}
    try:
        c = Console(driver, args)
        driver.get(args.url + "/")
        c.until(lambda: c.visible("#signin-form"), "the sign-in view")
        c.shot("signin")
        c.find("#signin-token").send_keys("not-a-token")
        c.find("#signin-submit").click()
        c.until(lambda: c.find("#signin-error").text, "the refusal of a wrong token")
        check(not c.visible("#nav"), "a wrong token shows nothing")

        c.sign_in(args.operator_token, "operator")
        c.until(lambda: c.visible("#view-overview") and c.find("#ov-backlog").text not in ("", "–"), "the overview")
        check("transmis" in c.find("#ov-states tbody").text, "the overview counts cases by state")
        # Sessions by role (Stats.sessions_by_role): the console's own session at least.
        c.until(lambda: "console" in c.find("#ov-sessions tbody").text, "the sessions by role")
        check(not c.visible("#ov-pair"), "a single broker: no pair line in the overview")
        c.shot("overview")

        # Queues: the dead letter is listed with its button; requeue it.
        c.view("queues")
        button_css = "#requeue-" + args.dead_case
        c.until(lambda: c.visible(button_css), "the dead letter of " + args.dead_case)
        check("france-travail" in c.find("#queues-table").text, "the queues table shows france-travail")
        c.shot("queues")
        c.find(button_css).click()
        c.until(lambda: not c.visible(button_css) and "remis en file" in c.status(), "the requeue")
        check(True, "dead letter of %s requeued from the browser" % args.dead_case)

        c.view("sla")
        c.find("#sla-submit").click()
        c.until(lambda: args.case in c.find("#sla-breached").text or args.case in c.find("#sla-at-risk").text,
                "the case on the SLA board", seconds=30)
        c.shot("sla-board")

        # Alerts: the breach of the case arrives (live or listed); acknowledge it.
        c.view("alerts")
        c.until(lambda: "connecté" in c.find("#alerts-live").text and "déconnecté" not in c.find("#alerts-live").text,
                "the live alert stream")
        row_css = "#alerts-table tbody tr"

        def breach_button():
            for row in driver.find_elements(c.By.CSS_SELECTOR, row_css):
                if args.case in row.text and "dépassement" in row.text:
                    return row.find_element(c.By.CSS_SELECTOR, ".ack-button")
            return None
        c.until(lambda: breach_button() is not None, "the breach alert of " + args.case, seconds=30)
        c.shot("alerts")
        # The table is redrawn when an alert arrives live or the list refreshes: a row found a
        # moment ago may be gone (a stale element); find it again and retry, a few times.
        from selenium.common.exceptions import StaleElementReferenceException
        alert_id = None
        for attempt in range(5):
            try:
                button = breach_button()
                alert_id = button.get_attribute("data-alert-id")
                button.click()
                break
            except (StaleElementReferenceException, AttributeError):
                if attempt == 4:
                    raise
                time.sleep(0.2)

        def acked_by():
            for row in driver.find_elements(c.By.CSS_SELECTOR, row_css):
                if row.get_attribute("data-alert-id") == alert_id:
                    return row.find_element(c.By.CSS_SELECTOR, ".acked-by").text
            return ""
        c.until(lambda: acked_by() == "operator", "the alert acknowledged by the operator")
        check(True, "alert %s acknowledged by the signed-in operator" % alert_id)
        result["acked_alert_id"] = alert_id

        # The operator sees metadata, never personal data.
        c.look_up(args.case)
        check(not c.visible("#case-personal") and c.visible("#case-no-personal"),
              "the operator is told personal data is for administrators")
        check("Jeanne Martin" not in driver.page_source, "no citizen name anywhere in the operator's page")
        check("SUBMITTED" in c.find("#case-timeline").text, "the case's timeline is shown")
        c.shot("case-operator")

        c.find("#case-audit-button").click()
        c.until(lambda: "console" in c.find("#audit-table").text, "the case's audit")
        c.shot("audit")

        c.view("reports")
        c.until(lambda: c.find("#report-weekly svg") and c.find("#report-reply-times svg"), "the report plots")
        check(len(driver.find_elements(c.By.CSS_SELECTOR, "#report-weekly svg text")) > 0, "the weekly plot has axes")
        c.shot("reports")

        c.find("#signout-button").click()
        c.until(lambda: c.visible("#signin-form"), "signed out")

        # The administrator sees the personal data (the broker decides, and audits it).
        c.sign_in(args.admin_token, args.admin)
        c.look_up(args.case)
        c.until(lambda: c.visible("#case-personal"), "the personal data for the administrator")
        check(c.find("#case-citizen").text == "Jeanne Martin", "the administrator sees the citizen's name")
        c.shot("case-administrator")
    finally:
        driver.quit()
    with open(args.result, "w") as out:
        json.dump(result, out)


def pair_checks(args):
    """A pair of brokers (tests/console/console_pair_system_test.cc): the overview's pair line
    names the leader, the mode, the state and the standby."""
    driver = start_browser()
    try:
        c = Console(driver, args)
        c.sign_in(args.operator_token, "operator")
        c.until(lambda: c.visible("#ov-pair") and "appairé" in c.find("#ov-pair").text,
                "the pair's line, paired")
        line = c.find("#ov-pair").text
        print("pair line: " + line, flush=True)
        check("meneur " + args.pair_leader in line, "the line names the leader " + args.pair_leader)
        check("mode strict" in line, "the line says the mode")
        check("secours " + args.pair_standby + " à la séquence" in line,
              "the line names the standby " + args.pair_standby + " and its sequence")
        c.shot("overview-pair")
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--operator-token", required=True)
    # The seeded single broker's run (console_system_test.cc) ...
    for flag in ["--admin-token", "--stranger-token", "--case", "--dead-case", "--admin",
                 "--result"]:
        parser.add_argument(flag)
    # ... or a pair's overview only (console_pair_system_test.cc).
    parser.add_argument("--pair-leader")
    parser.add_argument("--pair-standby")
    parser.add_argument("--screenshots", default="")
    args = parser.parse_args()
    started = time.time()
    if args.pair_leader:
        pair_checks(args)
    else:
        missing = [name for name in ["admin_token", "stranger_token", "case", "dead_case", "admin",
                                     "result"] if getattr(args, name) is None]
        if missing:
            parser.error("missing: " + ", ".join("--" + name.replace("_", "-") for name in missing))
        http_checks(args)
        browser_checks(args)
    print("passed in %.1f s" % (time.time() - started), flush=True)


if __name__ == "__main__":
    main()
