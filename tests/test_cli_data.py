import subprocess
import sys

import pytest

from autoperi.cli.main import build_parser, main


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from autoperi.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'pymatgen', 'ase', 'chgnet') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_subcommand_has_help():
    parser = build_parser()
    assert parser.format_help()


def test_info_on_the_bundled_example(tmp_path, capsys):
    assert main(["data", "info", "example", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "textbook.csv  16 " in out
    assert (tmp_path / "example-info.png").stat().st_size > 10_000


def test_info_on_a_named_split(shared_data_root, tmp_path, capsys):
    assert main(["data", "info", "perov_5", "--split", "val", "--split", "test", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:4] == ["val", "3787", "0", "complete"] for line in lines)
    assert any(line.split()[:4] == ["test", "3785", "0", "complete"] for line in lines)


def test_convert_to_every_format(tmp_path, capsys):
    from autoperi.io.readers import read_crystals

    example = str(build_example_path())
    assert main(["data", "convert", example, str(tmp_path / "set.extxyz")]) == 0
    assert main(["data", "convert", str(tmp_path / "set.extxyz"), str(tmp_path / "cifs")]) == 0
    assert main(["data", "convert", str(tmp_path / "cifs"), str(tmp_path / "back.csv")]) == 0
    formulas = [c.formula for c in read_crystals(tmp_path / "back.csv").crystals]
    assert sorted(formulas) == sorted(c.formula for c in read_crystals(example).crystals)
    assert len(list((tmp_path / "cifs").glob("*.cif"))) == 16


def test_info_writes_no_png_unless_asked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "info", "example"]) == 0
    assert list(tmp_path.iterdir()) == [] and "histograms" not in capsys.readouterr().out


def test_convert_writes_the_format_its_suffix_names(tmp_path, capsys):
    from autoperi.io.readers import read_crystals

    example = str(build_example_path())
    ids = [c.id for c in read_crystals(example).crystals]
    assert main(["data", "convert", example, str(tmp_path / "new" / "set.csv.gz")]) == 0  # parent made
    assert [c.id for c in read_crystals(tmp_path / "new" / "set.csv.gz").crystals] == ids
    assert main(["data", "convert", example, str(tmp_path / "cifs")]) == 0
    assert sorted(p.stem for p in (tmp_path / "cifs").glob("*.cif")) == sorted(ids)  # named by id, not doubled
    assert main(["data", "convert", str(tmp_path / "cifs"), str(tmp_path / "again")]) == 0
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(f"{i}.cif" for i in ids)
    single = tmp_path / "cifs" / f"{ids[0]}.cif"
    assert main(["data", "convert", str(single), str(tmp_path / "one.cif")]) == 0
    assert read_crystals(tmp_path / "one.cif").crystals[0].formula == read_crystals(single).crystals[0].formula
    capsys.readouterr()
    assert main(["data", "convert", example, str(tmp_path / "out.json")]) == 2
    assert "unknown output format '.json'" in capsys.readouterr().err and not (tmp_path / "out.json").exists()
    assert main(["data", "convert", example, str(tmp_path / "many.cif")]) == 2
    assert "a .cif holds one crystal, read 16" in capsys.readouterr().err


def build_example_path():
    from importlib.resources import files

    return files("autoperi") / "examples" / "textbook.csv"


def _parsers(parser, name="autoperi"):
    import argparse

    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub_parser in action.choices.items():
                yield from _parsers(sub_parser, f"{name} {sub_name}")


def test_every_option_of_every_command_has_help_text():
    import argparse

    from autoperi.cli.main import build_parser

    missing = [
        f"{name} {action.dest}"
        for name, parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help
    ]
    assert missing == []


def test_sampling_options_state_their_defaults(capsys):
    for command, steps in (("sample", 50), ("csp", 100)):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert f"ODE integration steps (default: {steps})" in text and "ODE integrator (default: euler" in text
        assert "crystals generated together (default: 64)" in text
