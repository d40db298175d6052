"""A stopped run's checkpoint through the command line: a forgotten --resume keeps the finished
batches and says how to go on; --resume continues to the uninterrupted run's file; --fresh
starts over; a checkpoint of another run is named with the field that differs."""

from __future__ import annotations

import numpy as np
import pytest

from fragrisk import cli
from fragrisk.engine.results import read_results
from fragrisk.engine.run import jobs
from fragrisk.engine.scenario import load_scenario

from conftest import write_tiny_scenario


def fragrisk(argv, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


@pytest.fixture()
def stopped(tmp_path):
    """(scenario path, output path, checkpoint folder): a 3-realization run stopped after 2
    finished batches (as Ctrl-C leaves it), and the uninterrupted run's file."""
    path = write_tiny_scenario(tmp_path, duration_days=0.04, realizations=3)
    s = load_scenario(path)
    clean = jobs.run_job(s, "cpu", tmp_path / "clean.h5", realizations=3, checkpoint=False)
    out = tmp_path / "r.h5"

    def stop_after_two(done, total, batch):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jobs.run_job(s, "cpu", out, realizations=3, batch_size=1, on_progress=stop_after_two)
    folder = jobs.checkpoint_dir(out)
    assert len(list(folder.glob("batch_*.npz"))) == 2 and not out.exists()
    return path, out, folder, clean.path


def argv(path, out, *extra):
    return ["run", path, "--device", "cpu", "--realizations", 3, "--batch-size", 1, "--jobs", 1,
            "-o", out, *extra]


def test_a_forgotten_resume_keeps_the_batches_and_says_how_to_go_on(stopped, capsys):
    path, out, folder, clean = stopped
    before = sorted((p.name, p.read_bytes()) for p in folder.iterdir())
    code, stdout, err = fragrisk(argv(path, out), capsys)
    assert code != 0 and stdout == ""
    assert len(err.strip().splitlines()) == 1, err
    assert str(folder) in err and "2 finished batches of this run" in err
    assert "--resume" in err and "--fresh" in err
    assert sorted((p.name, p.read_bytes()) for p in folder.iterdir()) == before  # nothing lost
    assert not out.exists()

    code, stdout, err = fragrisk(argv(path, out, "--resume"), capsys)
    assert code == 0, err
    assert "resumed: 2 realizations" in err
    assert "resumed: 2 realizations from the checkpoint; the rates below count this session's" in stdout
    a, b = read_results(clean), read_results(out)
    np.testing.assert_array_equal(a.expected_collisions_by_time, b.expected_collisions_by_time)
    np.testing.assert_array_equal(a.fragments_in_orbit, b.fragments_in_orbit)
    assert not folder.exists()


def test_fresh_discards_the_checkpoint(stopped, capsys):
    path, out, folder, clean = stopped
    code, stdout, err = fragrisk(argv(path, out, "--fresh"), capsys)
    assert code == 0, err
    assert "resumed" not in err + stdout and not folder.exists()
    np.testing.assert_array_equal(read_results(clean).expected_collisions,
                                  read_results(out).expected_collisions)
    code, _, err = fragrisk(argv(path, out.with_name("x.h5"), "--fresh", "--resume"), capsys)
    assert code != 0 and "--resume and --fresh: give one" in err


def test_a_checkpoint_of_another_run_is_named_with_the_field_that_differs(stopped, capsys):
    path, out, folder, clean = stopped
    for extra in ((), ("--resume",)):
        code, _, err = fragrisk(argv(path, out, "--seed", 7, *extra), capsys)
        assert code != 0 and len(err.strip().splitlines()) == 1, err
        assert "different run" in err and "seed: 20211115 in the checkpoint, 7 here" in err, err
        assert "--fresh" in err
    text = path.read_text().replace("duration_days = 0.04", "duration_days = 0.05")
    path.write_text(text)
    code, _, err = fragrisk(argv(path, out, "--resume"), capsys)
    assert code != 0 and "scenario [analysis] duration_days: 0.04 in the checkpoint, 0.05 here" in err, err
    assert len(list(folder.glob("batch_*.npz"))) == 2


def test_a_checkpoint_without_finished_batches_is_simply_replaced(tmp_path, capsys):
    path = write_tiny_scenario(tmp_path, duration_days=0.02, realizations=1)
    out = tmp_path / "r.h5"
    folder = jobs.checkpoint_dir(out)
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")  # stopped before its first batch finished
    code, _, err = fragrisk(argv(path, out)[:4] + ["--realizations", 1, "-o", out], capsys)
    assert code == 0, err
    assert out.exists() and not folder.exists()
