"""Messages in the user's words: options on the command line, one line per error or warning."""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pytest

from sigxfer.cli import build_parser, main
from sigxfer.cli.messages import command_options, to_cli, warnings_as_lines

COMMANDS = ["demo", "synth", "train", "evaluate", "compare", "report", "predict", "render", "info", "list"]


def test_every_command_has_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    text = capsys.readouterr().out
    assert exit_.value.code == 0 and all(f"    {c} " in text for c in COMMANDS)
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0 and f"usage: sigxfer {command}" in capsys.readouterr().out


@pytest.fixture(scope="module")
def train_options():
    return command_options(build_parser(), "train")


def test_the_mapping_is_read_from_the_parser(train_options):
    assert {"sr", "overwrite", "random_state", "pretrained", "stratify", "hop_length", "progress"} <= set(train_options)
    assert "--seed" in train_options["random_state"].option_strings
    assert "json" not in train_options  # evaluate's option, not train's
    assert "json" in command_options(build_parser(), "evaluate")


@pytest.mark.parametrize("python, cli", [
    ("pass sr= (series without one can use sr=1)", "pass --sr (series without one can use --sr 1)"),
    ("x exists; pass overwrite=True or choose another name", "x exists; pass --overwrite or choose another name"),
    ("(add cases, or pass stratify=False)", "(add cases, or pass --no-stratify)"),
    ("hop_length=0 must be a positive integer", "--hop-length 0 must be a positive integer"),
    ("task='regression' needs targets=CSV, a table", "--task regression needs --targets CSV, a table"),
    ("it does not apply: use pretrained=True", "it does not apply: leave out --no-pretrained"),
    ("no held-out test: test_size=0.", "no held-out test: --test-size 0."),
    ("random_state=3 and progress=False", "--seed 3 and --quiet"),
    ("imaging 'mel:n_mels=64' and pad= and ucr:X=1", "imaging 'mel:n_mels=64' and pad= and ucr:X=1"),
    ("target column 'y' (of y, z; choose with target=)", "target column 'y' (of y, z; choose with --target)"),
])
def test_python_hints_become_options(train_options, python, cli):
    assert to_cli(python, train_options) == cli


def test_errors_name_the_flags(tmp_path, capsys):
    data = tmp_path / "nosr"
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for i in range(3):
            np.save(data / label / f"{i}.npy", np.random.default_rng(i).random(64).astype(np.float32))
    assert main(["render", str(data), str(tmp_path / "out"), "--imaging", "mel", "--backbone", "tinynet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --sr (" in err and "use --sr 1" in err and "sr=" not in err


def test_warnings_print_as_one_line_in_the_options_words(tmp_path, capsys):
    data = tmp_path / "uneven"
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for i in range(3):
            np.save(data / label / f"{i}.npy", np.zeros(60 + i, dtype=np.float32))
    before = warnings.showwarning
    assert main(["render", str(data), str(tmp_path / "out"), "--backbone", "tinynet", "--image-size", "32"]) == 0
    err = capsys.readouterr().err
    assert warnings.showwarning is before  # restored after the command
    lines = [line for line in err.splitlines() if line]
    assert lines == [f"sigxfer: warning: {data}: signals have 60 to 62 samples; shorter ones are padded at the end "
                     "(with zeros) to 62; pass --length to choose"]


def test_warnings_as_lines_restores_and_joins_lines(capsys):
    options = command_options(build_parser(), "train")
    with warnings_as_lines(options):
        warnings.warn("first\nsecond: pass overwrite=True", UserWarning)
    assert capsys.readouterr().err == "sigxfer: warning: first second: pass --overwrite\n"


def test_a_warning_that_suggests_a_parameter_suggests_a_flag(tmp_path, capsys):
    data = tmp_path / "lonely"
    for label, n in (("a", 4), ("b", 1)):
        (data / label).mkdir(parents=True)
        for i in range(n):
            np.save(data / label / f"{i}.npy", np.random.default_rng(i).random(64).astype(np.float32))
    assert main(["train", str(data), "-o", str(tmp_path / "m.sigx"), "--backbone", "tinynet", "--sr", "64"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("sigxfer: error: ") and "pass --no-stratify" in err
    assert "stratify=False" not in err and not (tmp_path / "m.sigx").exists()


def test_option_names_follow_any_parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hop-length", dest="hop_length", type=int)
    assert to_cli("hop_length=0 is wrong; n_fft=4 too", command_options(parser, None)) == \
        "--hop-length 0 is wrong; n_fft=4 too"


def test_info_does_not_claim_imagenet_weights_for_tinynet(tmp_path, capsys):
    assert main(["synth", "devices", str(tmp_path / "d"), "--n-per-class", "4", "--n-timepoints", "128",
                 "--sr", "128"]) == 0
    assert main(["train", str(tmp_path / "d"), "-o", str(tmp_path / "m.sigx"), "--backbone", "tinynet",
                 "--image-size", "32", "--imaging", "spectrum", "-q", "--test-size", "0"]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "m.sigx")]) == 0
    out = capsys.readouterr().out
    assert "tinynet (fixed init, no pretrained weights)" in out and "ImageNet" not in out
