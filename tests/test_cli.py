"""The CLI over the public API: inspect, verify."""

from __future__ import annotations

import json
from pathlib import Path

from graphs import brevitas_mlp, finn_tfc, qkeras_mlp, save

from codesign.cli import main


def test_inspect_table(tmp_path: Path, capsys) -> None:
    path = save(finn_tfc(2, 2), tmp_path / "tfc.onnx")
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    for text in ("dense0", "36x32", "int2n", "MACs", "sparsity", "mul:", "sub:"):
        assert text in out


def test_inspect_json(tmp_path: Path, capsys) -> None:
    path = save(qkeras_mlp(), tmp_path / "jet.onnx")
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [row["shape"] for row in info["layers"]] == ["16x64", "64x32", "32x32", "32x5"]
    assert info["head"] == "softmax"
    assert info["layers"][0]["input"] == "float" and info["layers"][1]["input"] == "uint6"
    assert info["totals"]["macs"] == 16 * 64 + 64 * 32 + 32 * 32 + 32 * 5


def test_verify_agrees(tmp_path: Path, capsys) -> None:
    path = save(brevitas_mlp(), tmp_path / "m.onnx")
    assert main(["verify", str(path), "--samples", "64", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["agrees"] and result["samples"] == 64


def test_verify_rejects_bad_sample_count(tmp_path: Path, capsys) -> None:
    path = save(brevitas_mlp(), tmp_path / "m.onnx")
    assert main(["verify", str(path), "--samples", "0"]) == 2
    assert "--samples" in capsys.readouterr().err


def test_no_command_prints_help(capsys) -> None:
    assert main([]) == 2
    assert "inspect" in capsys.readouterr().out


def test_export_without_backend_names_installed_ones(tmp_path: Path, capsys) -> None:
    path = save(brevitas_mlp(), tmp_path / "m.onnx")
    card = tmp_path / "card.toml"
    card.write_text("not toml = = =")
    code = main(["export", str(path), "--target", "nonexistent", "--card", str(card), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "card.toml" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
