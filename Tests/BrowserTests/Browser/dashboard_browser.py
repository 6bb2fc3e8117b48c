"""The dashboard in a real browser: headless Chromium (Debian's), driven by Selenium.

Started by Tests/BrowserTests/DashboardBrowserTests.swift, which checks that every `ok: CHECK`
line below was printed. Against the real binaries: `sutradhar serve` on a free loopback port,
`sutradhar run` of the example flake (real nix, real rootless daemon) in the same cache.

    dashboard_browser.py --sutradhar BIN --cache-dir DIR --docker-host HOST \
        --pipeline EXAMPLE.yaml --hostile-pipeline HOSTILE.yaml [--screenshots FOLDER]

Exits 0 when every check held; otherwise prints what it saw (and the server's log) and exits 1.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# Bounds, generous on purpose: a shared 2-core machine with other builds running. The example's
# run (nix build, load, two probes) took 3 to 30 s there, more on a fresh machine's first nix
# build; 10 min only stops a hung run.
RUN_BOUND = 600
# The server answering its first request, and a page settling after an event: seconds normally.
SERVER_BOUND = 60
PAGE_BOUND = 30


def ok(check):
    print(f"ok: {check}", flush=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url):
    """A plain GET, as a browser without JavaScript (or curl) makes it: (status, body)."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode("utf-8")


def wait_for_server(base, server):
    deadline = time.monotonic() + SERVER_BOUND
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"sutradhar serve exited with {server.returncode} before answering")
        try:
            get(base + "/")
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"sutradhar serve did not answer {base}/ within {SERVER_BOUND} s")


def run_cli(args, pipeline, log):
    """Starts `sutradhar run PIPELINE --json` in the dashboard's cache; its stdout goes to `log`."""
    return subprocess.Popen(
        [args.sutradhar, "run", pipeline, "--json", "--cache-dir", args.cache_dir, "--docker-host", args.docker_host],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def events(path):
    found = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    return found


def run_id_of(path):
    for event in events(path):
        if event.get("event") == "run-started":
            return event["run"]
    return None


def start_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--window-size=1280,800", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    # An alert must stay open for the check below to see it, not be dismissed silently.
    options.unhandled_prompt_behavior = "ignore"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    # --window-size sizes the window, and headless Chromium keeps some of it for its (invisible)
    # browser frame: the page itself gets 1280x657. The screenshots are of a 1280x800 page.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    return driver


def status_of_row(driver, run):
    """The row's status, or None when it is not there, or was replaced by a live update between
    finding it and reading it (a stale element: the wait asks again)."""
    try:
        rows = driver.find_elements(By.CSS_SELECTOR, f'#runs tr[data-run-id="{run}"]')
        return rows[0].get_attribute("data-status") if rows else None
    except StaleElementReferenceException:
        return None


def stop(server):
    """SIGTERM (the server cancels its runs and exits), SIGKILL after 30 s."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def runs_count(base, token):
    request = urllib.request.Request(base + "/api/runs?limit=1000", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return len(json.loads(response.read().decode("utf-8")))


def buttons_and_other_origins(args, work, driver, failed_run):
    """A second server, with a token and --allow-trigger: a person logs in through the URL it
    prints and presses the run page's buttons; a page of another origin (a second loopback port)
    that auto-submits the same form starts nothing."""
    import secrets
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    token_path = os.path.join(work, "token")
    descriptor = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    with open(token_path) as handle:
        token = handle.read().strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = os.path.join(work, "serve-trigger.log")
    log = open(log_path, "w")
    # Its working directory holds pipelines/: the runs it starts are found there by name.
    server = subprocess.Popen([args.sutradhar, "serve", "--listen", f"127.0.0.1:{port}", "--cache-dir", args.cache_dir,
                               "--token-file", token_path, "--allow-trigger", "--docker-host", args.docker_host],
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(args.hostile_pipeline))),
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    attacker = None
    try:
        deadline = time.monotonic() + SERVER_BOUND
        login = None
        while login is None and time.monotonic() < deadline:
            with open(log_path) as printed:
                login = next((line.split("log in once with: ", 1)[1].strip() for line in printed if "log in once with: " in line), None)
            time.sleep(0.1)
        assert login and login.startswith(base + "/login?token="), f"no login URL printed: {open(log_path).read()}"
        driver.get(login)
        WebDriverWait(driver, PAGE_BOUND).until(lambda d: d.find_elements(By.ID, "runs"))
        assert token not in driver.current_url, f"the token is still in the address: {driver.current_url}"
        cookies = {cookie["name"]: cookie for cookie in driver.get_cookies()}
        session = cookies.get("sutradhar_session")
        assert session and session.get("httpOnly") and session.get("sameSite") == "Strict", f"cookies: {cookies}"
        ok("the printed login URL logs the browser in and the token leaves the address")

        for button, label in (("rerun", "run again"), ("rerun-failed", "run the failed stages")):
            before = runs_count(base, token)
            driver.get(f"{base}/runs/{failed_run}")
            form = WebDriverWait(driver, PAGE_BOUND).until(
                lambda d: d.find_element(By.CSS_SELECTOR, f'form[action="/runs/{failed_run}/{button}"]'))
            form.find_element(By.TAG_NAME, "button").click()
            WebDriverWait(driver, PAGE_BOUND).until(
                lambda d: "/runs/" in d.current_url and failed_run not in d.current_url and d.find_elements(By.ID, "verdict"))
            new_run = driver.current_url.rsplit("/", 1)[-1]
            # The hostile stage fails again: the page that is open turns failed without a reload.
            # Seconds (the stage exits at once); the bound only stops a hung wait with a diagnosis.
            WebDriverWait(driver, 120, ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: d.find_element(By.ID, "verdict").get_attribute("data-status") == "failed")
            assert runs_count(base, token) == before + 1, "the button did not start exactly one run"
            ok(f"'{label}' started run {new_run} and its page turned failed live")

        class Attacker(BaseHTTPRequestHandler):
            def do_GET(self):
                page = (f'<form id="f" method="post" action="{base}/runs/{failed_run}/rerun"><input name="commit" value=""></form>'
                        '<script>document.getElementById("f").submit()</script>')
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(page.encode())

            def log_message(self, *arguments):
                pass

        attacker = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        before = runs_count(base, token)
        driver.get(f"http://127.0.0.1:{attacker.server_address[1]}/")
        WebDriverWait(driver, PAGE_BOUND).until(lambda d: d.current_url.startswith(base))
        body = driver.execute_script("return document.body.textContent;")
        assert "refused" in body, f"the cross-origin POST was not refused: {driver.current_url}\n{body[:1000]}"
        time.sleep(2)
        assert runs_count(base, token) == before, "a page of another origin started a run"
        ok("a page of another origin that auto-submits the form is refused and starts nothing")
    finally:
        if attacker is not None:
            attacker.shutdown()
        stop(server)
        log.close()
        with open(log_path, encoding="utf-8", errors="replace") as printed:
            print("--- sutradhar serve --allow-trigger (last 30 lines) ---\n" + "".join(printed.readlines()[-30:]), flush=True)


def main():
    parser = argparse.ArgumentParser()
    for name in ("--sutradhar", "--cache-dir", "--docker-host", "--pipeline", "--hostile-pipeline"):
        parser.add_argument(name, required=True)
    parser.add_argument("--screenshots")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="sutradhar-browser-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log_path = os.path.join(work, "serve.log")
    server_log = open(server_log_path, "w")
    server = subprocess.Popen([args.sutradhar, "serve", "--listen", f"127.0.0.1:{port}", "--cache-dir", args.cache_dir],
                              stdout=server_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, DOCKER_HOST=args.docker_host))
    driver = None
    cli_logs = []
    try:
        wait_for_server(base, server)
        status, body = get(base + "/")
        assert status == 200 and '<table id="runs"' in body, f"GET / without JavaScript: {status}\n{body[:2000]}"
        ok("the runs page renders its table without JavaScript")

        driver = start_browser()
        driver.get(base + "/")
        WebDriverWait(driver, PAGE_BOUND).until(lambda d: d.find_elements(By.ID, "runs"))
        # A reload would wipe this mark: it is still there at the end only if the page never reloaded.
        driver.execute_script("window.sutradharNoReload = 'still this page';")

        example_log_path = os.path.join(work, "example.jsonl")
        example_log = open(example_log_path, "w")
        cli_logs.append(example_log_path)
        example = run_cli(args, args.pipeline, example_log)

        # The run's ID as the CLI says it; then its row, by that ID, in the page that is already open.
        deadline = time.monotonic() + RUN_BOUND
        run = None
        while run is None and time.monotonic() < deadline and example.poll() is None:
            run = run_id_of(example_log_path)
            time.sleep(0.1)
        run = run or run_id_of(example_log_path)
        assert run, "the CLI printed no run-started event"
        print(f"example-run: {run}", flush=True)
        WebDriverWait(driver, RUN_BOUND).until(lambda d: status_of_row(d, run) is not None)
        ok("the new run's row appeared without a reload")
        WebDriverWait(driver, RUN_BOUND).until(lambda d: status_of_row(d, run) in ("passed", "failed", "cancelled", "abandoned"))
        row_status = status_of_row(driver, run)
        example.wait(timeout=RUN_BOUND)
        example_log.close()
        summary = next((e for e in events(example_log_path) if e.get("event") == "run-finished"), None)
        assert summary, f"the CLI printed no summary (exit {example.returncode})"
        for stage in summary["stages"]:
            image = stage.get("outputs", {}).get("image")
            if stage["name"] == "load" and image:
                print(f"loaded-image: {image}", flush=True)
        assert example.returncode == 0 and summary["status"] == "passed", f"the CLI run ended {summary['status']}: {json.dumps(summary)}"
        ok("the CLI run passed")
        assert row_status == "passed", f"the row says {row_status}"
        def badge_passed(d):
            badge = d.find_element(By.CSS_SELECTOR, f'#runs tr[data-run-id="{run}"] .badge')
            return "status-passed" in badge.get_attribute("class") and badge.text.strip() == "passed"
        # A live update may replace the row between finding and reading it: ask again then.
        WebDriverWait(driver, PAGE_BOUND, ignored_exceptions=(StaleElementReferenceException,)).until(badge_passed)
        ok("the row turned passed without a reload")
        assert driver.execute_script("return window.sutradharNoReload;") == "still this page", "the runs page was reloaded"
        ok("the page was never reloaded")

        status, body = get(f"{base}/runs/{run}")
        assert status == 200 and 'id="timeline"' in body and 'id="stages"' in body, f"GET /runs/{run}: {status}\n{body[:2000]}"
        ok("the run page renders without JavaScript")

        driver.get(f"{base}/runs/{run}")
        WebDriverWait(driver, PAGE_BOUND).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline rect.bar"))
        stages = [stage["name"] for stage in summary["stages"]]
        bars = [bar.get_attribute("data-stage") for bar in driver.find_elements(By.CSS_SELECTOR, "#timeline rect.bar")]
        assert sorted(bars) == sorted(stages), f"timeline bars {bars}, stages of the run {stages}"
        for declared in ("image", "load", "smoke", "probe-from-sidecar"):
            assert declared in bars, f"no bar for the pipeline's stage {declared}: {bars}"
        ok("one timeline bar per stage")
        rows = {row.get_attribute("data-stage"): row.get_attribute("data-status")
                for row in driver.find_elements(By.CSS_SELECTOR, "#stages tr[data-stage]")}
        assert set(rows) == set(stages) and all(value == "passed" for value in rows.values()), f"stage rows {rows}"
        ok("every stage row says passed")
        verdict = driver.find_element(By.ID, "verdict").get_attribute("data-status")
        assert verdict == "passed", f"verdict {verdict}"
        ok("the verdict says passed")
        # At 1280 px the run page fits: nothing (timeline, stage table, audit trail) scrolls it sideways.
        width = driver.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];")
        wide = driver.execute_script(
            "const limit = document.documentElement.clientWidth;"
            "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().left + e.scrollWidth > limit + 1)"
            ".slice(-5).map(e => e.tagName + (e.id ? '#' + e.id : '') + ' ' + Math.round(e.getBoundingClientRect().left + e.scrollWidth));")
        assert width[0] <= width[1], f"the run page is {width[0]} px wide in a {width[1]} px window; too wide: {wide}"
        ok("the run page fits 1280 px without scrolling sideways")
        if args.screenshots:
            os.makedirs(args.screenshots, exist_ok=True)
            driver.save_screenshot(os.path.join(args.screenshots, "dashboard-run.png"))

        # A run whose log holds a script: shown as text, never run.
        hostile_log_path = os.path.join(work, "hostile.jsonl")
        with open(hostile_log_path, "w") as hostile_log:
            cli_logs.append(hostile_log_path)
            hostile = run_cli(args, args.hostile_pipeline, hostile_log)
            hostile.wait(timeout=RUN_BOUND)
        hostile_run = run_id_of(hostile_log_path)
        assert hostile.returncode == 1 and hostile_run, f"the hostile run exited {hostile.returncode}"
        ok("the hostile run failed")
        driver.get(f"{base}/runs/{hostile_run}")
        WebDriverWait(driver, PAGE_BOUND).until(lambda d: d.find_elements(By.ID, "verdict"))
        # An inline script would have run while the page loaded, before `get` returned: no wait needed.
        try:
            alert = driver.switch_to.alert
            raise AssertionError(f"an alert opened: {alert.text!r}")
        except NoAlertPresentException:
            ok("no alert opened")
        text = driver.execute_script("return document.body.textContent;")
        assert "<script>alert(1)</script>" in text, f"the log line is not in the page's text:\n{text[:3000]}"
        ok("the script in the log is shown as text")
        status, body = get(f"{base}/runs/{hostile_run}")
        assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body, \
            "GET of the run page: the log line is not escaped"
        ok("the script in the log is escaped in the HTML")

        buttons_and_other_origins(args, work, driver, hostile_run)

        if args.screenshots:
            driver.get(base + "/")
            WebDriverWait(driver, PAGE_BOUND).until(lambda d: status_of_row(d, hostile_run) == "failed")
            driver.save_screenshot(os.path.join(args.screenshots, "dashboard-runs.png"))
            print(f"screenshots: {args.screenshots}/dashboard-runs.png, dashboard-run.png", flush=True)
        return 0
    except (AssertionError, TimeoutException) as failure:
        print(f"FAILED: {type(failure).__name__}: {failure}", flush=True)
        traceback.print_exc()
        if driver is not None:
            try:
                print(f"--- page at {driver.current_url} ---\n{driver.page_source[:6000]}", flush=True)
            except Exception as problem:  # an open alert or a dead browser: say so, keep the rest
                print(f"(no page source: {problem})", flush=True)
        return 1
    finally:
        if driver is not None:
            driver.quit()
        stop(server)
        server_log.close()
        for path in cli_logs:
            with open(path, encoding="utf-8", errors="replace") as log:
                print(f"--- {os.path.basename(path)} (last 40 lines) ---\n" + "".join(log.readlines()[-40:]), flush=True)
        with open(server_log_path, encoding="utf-8", errors="replace") as log:
            print("--- sutradhar serve (last 60 lines) ---\n" + "".join(log.readlines()[-60:]), flush=True)


if __name__ == "__main__":
    sys.exit(main())
