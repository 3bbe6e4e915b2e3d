"""The HTML report: self-contained, every section present, cells linked to cases, renders in Chromium."""

import base64
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from sigxfer import OutputExistsError, SignalSet, TransferClassifier, TransferRegressor, make_devices, save
from sigxfer.cli import main
from sigxfer.data import train_test_split_signals, write_signals
from sigxfer.evaluation.compare import compare
from sigxfer.evaluation.report import build_report, write_report

FAST = dict(backbone="tinynet", image_size=32, random_state=0, progress=False)


@pytest.fixture(scope="module")
def split():
    signals = make_devices(16, n_timepoints=256, sr=256.0, seed=2)
    train, test = train_test_split_signals(signals, test_size=0.5, random_state=0)
    y = test.y.copy()
    y[[0, 1, -1]] = np.where(y[[0, 1, -1]] == "high", "low", "high")  # some certain mistakes
    return train, SignalSet(test.X, sr=test.sr, y=y, names=[f"rec <{i}>&" for i in range(len(test))])


@pytest.fixture(scope="module")
def model(split):
    return TransferClassifier(imaging="spectrum", strategy={"name": "linear", "C": 1.0}, **FAST).fit(split[0])


@pytest.fixture(scope="module")
def report_html(model, split):
    comparison = compare(split[0], split[1], contenders=["pixels-nb"], imaging="spectrum",
                         backbone="tinynet", image_size=32, progress=False, n_bootstrap=100)
    return build_report(model, split[1], comparison=comparison, data_name="devices", model_name="m.sigx",
                        n_bootstrap=200, command="sigxfer report m.sigx data -o r.html")


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids.add(attrs["id"])


def _parse(text):
    collector = _Collector()
    collector.feed(text)
    return collector


def test_report_is_self_contained(report_html):
    parsed = _parse(report_html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", report_html)
    assert "<script" not in report_html.lower() and "@import" not in report_html
    images = [a for tag, a in parsed.tags if tag == "img"]
    assert len(images) >= 6
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(attrs["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        assert attrs.get("alt")
    for tag, attrs in parsed.tags:
        if tag in ("a", "area", "link") and "href" in attrs:
            assert attrs["href"].startswith(("#", "data:")), attrs


def test_report_sections_and_numbers(report_html, split):
    parsed = _parse(report_html)
    for section in ("data", "images", "training", "scores", "confusion", "mistakes", "comparison", "config"):
        assert section in parsed.ids
    assert "95% CI" in report_html and "Wilson" in report_html and "macro F1" in report_html
    assert "ROC AUC" in report_html
    assert "pixels-nb" in report_html  # the comparison table
    assert "logistic-regression head" in report_html  # a linear probe has no epochs: its CV choice instead
    assert "&quot;transform&quot;: &quot;spectrum&quot;" in report_html  # the full configuration
    assert "sigxfer report m.sigx data -o r.html" in report_html
    assert "rec &lt;0&gt;&amp;" in report_html and "rec <0>&" not in report_html  # names escaped


def test_confusion_cells_link_to_their_cases(report_html, model, split):
    parsed = _parse(report_html)
    areas = [a for tag, a in parsed.tags if tag == "area"]
    k = len(model.classes_)
    assert len(areas) == k * k
    boxes = {}
    for attrs in areas:
        assert attrs["href"][1:] in parsed.ids
        x0, y0, x1, y1 = map(int, attrs["coords"].split(","))
        assert x1 - x0 > 20 and y1 - y0 > 20
        boxes[attrs["href"]] = (x0, y0, x1, y1)
    # Row 0 (true class 0) is on top and column 0 on the left, as drawn.
    assert boxes["#cell-0-0"][2] <= boxes["#cell-1-1"][0] + 1 and boxes["#cell-0-0"][3] <= boxes["#cell-1-1"][1] + 1
    assert boxes["#cell-0-1"][1] == boxes["#cell-0-0"][1] and boxes["#cell-1-0"][0] == boxes["#cell-0-0"][0]
    pred = model.predict(split[1])
    wrong = np.flatnonzero(pred != split[1].y)
    assert len(wrong) >= 1
    for i in wrong:
        assert f"case-{i}" in parsed.ids  # a gallery card per misclassified case
        assert f'href="#case-{i}"' in report_html  # linked from its confusion cell


def test_report_shows_the_training_estimate_and_the_minirocket_bar(model, split):
    import copy

    from sigxfer.evaluation.results import Comparison

    with_estimate = copy.copy(model)  # shares the fitted network; only the history differs
    with_estimate.history_ = dict(model.history_, selection={"cv_score": 0.8125, "cv_ci": [0.6, 0.9], "table": []})
    row = {"imaging": "spectrum", "metric": "accuracy", "ci_low": 0.5, "ci_high": 0.9, "interval": "wilson",
           "fit_seconds": 1.0, "predict_seconds": 0.1, "status": "ok"}
    comparison = Comparison(rows=[dict(row, contender="linear", score=0.875, training_cv=0.8125),
                                  dict(row, contender="minirocket", imaging="-", score=0.75)],
                            details={}, config={"reference": "minirocket", "splits": {"description": "given split"}})
    text = build_report(with_estimate, split[1], comparison=comparison, n_bootstrap=50)
    scores = text[text.index('<section id="scores">'):text.index('<section id="confusion">')]
    assert "CV estimate (training)" in scores and "0.812" in scores and "0.600–0.900" in scores
    header = text[text.index("<header>"):text.index("</header>")]
    assert "CV estimate (training) 0.812" in header
    table = text[text.index('<section id="comparison">'):text.index('<section id="config">')]
    assert "vs minirocket" in table and "+0.125" in table and ">bar<" in table and ">0.812<" in table
    plain = build_report(model, split[1], n_bootstrap=50)
    assert "CV estimate" not in plain


def test_report_for_a_regressor_and_an_epoch_history(split):
    train, test = split
    rng = np.random.default_rng(0)
    y_train = rng.normal(size=len(train)) + (train.y == "high")
    reg = TransferRegressor(imaging="spectrum", **FAST).fit(train.X, y_train)
    reg.history_ = dict(reg.history_, epochs=[
        {"epoch": i, "phase": "head" if i < 2 else "body", "train_loss": 1 / (i + 1), "val_loss": 1.2 / (i + 1),
         "val_metric": 0.5 + 0.1 * i, "lr": 1e-3} for i in range(4)])
    targets = SignalSet(test.X, sr=test.sr, y=rng.normal(size=len(test)))
    text = build_report(reg, targets, max_gallery=3, n_bootstrap=100)
    assert "R²" in text and "predicted against true" in text and "training curves" in text
    assert len(re.findall(r'class="case"', text)) == 3


def test_write_report_refuses_to_overwrite(model, split, tmp_path):
    path = write_report(model, split[1], tmp_path / "r.html", n_bootstrap=50)
    before = path.read_text()
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_report(model, split[1], path)
    assert path.read_text() == before


def test_cli_report(model, split, tmp_path, capsys):
    save(model, tmp_path / "m.sigx")
    data = write_signals(split[1], tmp_path / "test")
    cmp_dir = tmp_path / "cmp"
    assert main(["compare", str(data), "-o", str(cmp_dir), "--backbone", "tinynet", "--image-size", "32", "-q",
                 "--contenders", "pixels-nb", "--imaging", "spectrum"]) == 0
    out = tmp_path / "report.html"
    args = ["report", str(tmp_path / "m.sigx"), str(data), "-o", str(out), "--comparison", str(cmp_dir)]
    assert main(args) == 0
    text = out.read_text()
    assert "m.sigx" in text and "pixels-nb" in text
    assert "&quot;sigxfer_version&quot;" in text  # the model file's own configuration
    assert main(args) == 1
    assert "exists" in capsys.readouterr().err


# -- the browser -----------------------------------------------------------------------------------
_PROBE = """<script>
(function () {
  var problems = [];
  window.addEventListener("error", function (e) {
    problems.push("error: " + (e.message || (e.target && (e.target.src || e.target.href)) || "?"));
  }, true);
  var originalError = console.error;
  console.error = function () { problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
                                 return originalError.apply(console, arguments); };
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                       .map(function (i) { return i.alt; });
    var out = document.createElement("pre");
    out.id = "sigxfer-render-check";
    out.textContent = JSON.stringify({images: images.length, broken: broken, problems: problems,
                                      width: document.documentElement.scrollWidth});
    document.body.appendChild(out);
    console.log("sigxfer-render-check " + out.textContent);
  });
})();
</script>"""

_CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--hide-scrollbars", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"]


def _chromium() -> str:
    """Chromium's path; installed with apt-get when missing (CI runs as root with the Debian mirror).

    Fails loudly when it cannot be installed, unless SIGXFER_SKIP_BROWSER=1 asks to skip.
    """
    if os.environ.get("SIGXFER_SKIP_BROWSER") == "1":
        pytest.skip("SIGXFER_SKIP_BROWSER=1: the report is not rendered in a browser")
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail("chromium is missing and cannot be installed here (needs root and apt-get); "
                    "install Debian's `chromium` package or set SIGXFER_SKIP_BROWSER=1")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log = []
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        log.append(done.stdout[-2000:] + done.stderr[-2000:])
        if done.returncode != 0:
            pytest.fail(f"installing chromium failed ({' '.join(command)}):\n" + "\n".join(log))
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("apt-get installed chromium but it is not on PATH:\n" + "\n".join(log))
    return path


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_report_renders_in_headless_chromium(report_html, tmp_path):
    chromium = _chromium()
    page = tmp_path / "report.html"
    page.write_text(report_html.replace("<head>", "<head>" + _PROBE, 1), encoding="utf-8")
    run = subprocess.run([chromium, *_CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    found = re.search(r'<pre id="sigxfer-render-check">(.*?)</pre>', run.stdout, re.S)
    assert found, "the page did not finish loading:\n" + run.stderr[-3000:]
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["images"] >= 6 and check["broken"] == [] and check["problems"] == []
    # The console is captured (our own line is there) and holds no error of the page's.
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert any("sigxfer-render-check" in line for line in console), run.stderr[-3000:]
    assert not [line for line in console if "sigxfer-render-check" not in line]
    assert not re.search(r"Uncaught|Failed to load resource|net::ERR_", run.stderr)
    # A screenshot of the top of the page is a real picture, not a blank one.
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *_CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}",
                    "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, text=True, timeout=180, check=True)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1280) and pixels.std() > 20


def _targets_folder(folder, n: int, seed: int):
    """n sine bursts as .npy files and a targets.csv of their amplitude."""
    rng = np.random.default_rng(seed)
    (folder / "s").mkdir(parents=True)
    rows = ["file,amplitude"]
    for i in range(n):
        amp = rng.uniform(0.5, 4.0)
        wave = amp * np.sin(np.arange(256) * rng.uniform(0.2, 1.0))
        np.save(folder / "s" / f"c{i:02d}.npy", wave.astype(np.float32))
        rows.append(f"s/c{i:02d}.npy,{amp:.4f}")
    (folder / "targets.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_cli_report_for_a_regressor(tmp_path, capsys):
    from sigxfer.data.targets import load_targets

    train = load_targets(_targets_folder(tmp_path / "train", 24, 0) / "targets.csv", sr=256.0)
    test = _targets_folder(tmp_path / "test", 10, 1)
    model = TransferRegressor(imaging="spectrum", strategy="linear", **FAST).fit(train)
    save(model, tmp_path / "r.sigx")
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "r.sigx"), str(test), "--targets", str(test / "targets.csv"),
                 "--sr", "256", "-o", str(out)]) == 0
    text = out.read_text()
    assert "R²" in text and "Largest errors" in text and "c0" in text
    assert main(["report", str(tmp_path / "r.sigx"), str(test), "-o", str(tmp_path / "x.html")]) == 1
    assert "targets table" in capsys.readouterr().err
