import pytest

from curation.core.errors import ConfigError
from curation.config import load_config


def test_defaults_validate():
    config = load_config()
    assert config.annotate.cuts.detector == "hybrid"
    assert config.annotate.stages == ("cuts", "motion", "keyframes", "camera", "clarity", "borders",
                                      "overlay", "caption", "ocr", "aesthetic")


def test_overrides_are_typed():
    config = load_config(None, ["annotate.cuts.levels=[1,8]", "annotate.motion.sample_fps=4",
                                "annotate.stages=cuts,motion"])
    assert config.annotate.cuts.levels == (1, 8)
    assert config.annotate.motion.sample_fps == 4.0
    assert config.annotate.stages == ("cuts", "motion")


@pytest.mark.parametrize("override, key", [
    ("annotate.cuts.detektor=fast", "annotate.cuts.detektor"),
    ("annotate.cuts.detector=magic", "annotate.cuts.detector"),
    ("annotate.motion.sample_fps=-1", "annotate.motion.sample_fps"),
    ("annotate.clips.trim_frames=1.5", "annotate.clips.trim_frames"),
    ("annotate.stages=[motion]", "annotate.stages"),
    ("annotate.cuts.levels=[2,4]", "annotate.cuts.levels"),
])
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_yaml_file_unknown_top_level(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("annotat:\n  stages: [cuts]\n")
    with pytest.raises(ConfigError, match="annotat"):
        load_config(path)


def test_shipped_configs_load():
    from pathlib import Path
    paths = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert len(paths) >= 4, paths  # default, fast, offline, wan_motion: a test that finds none must fail
    for path in paths:
        load_config(path)


def test_default_yaml_is_the_built_in_defaults():
    from pathlib import Path
    assert load_config(Path(__file__).parents[1] / "configs" / "default.yaml") == load_config()


def test_model_stage_config_errors_name_the_key():
    import pytest

    from curation.core.errors import ConfigError

    cases = {"annotate.stages=[cuts,ocr]": "annotate.stages",  # model stages need keyframes
             "annotate.stages=[cuts,keyframes,aesthetic]": "annotate.aesthetic.text",  # caption is off
             "annotate.aesthetic.weights=null": "annotate.aesthetic.weights",
             "annotate.caption.num_beam_groups=4": "annotate.caption.num_beam_groups",
             "annotate.ray.ocr.gpu_memory_gb=-1": "annotate.ray.ocr.gpu_memory_gb",
             "annotate.ocr.canvas_size=10": "annotate.ocr.canvas_size"}
    for override, key in cases.items():
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(None, [override])
    assert load_config(None, ["annotate.stages=[cuts,keyframes,aesthetic]", "annotate.aesthetic.text=prompt",
                              "annotate.aesthetic.prompt=a cat"]).annotate.aesthetic.prompt == "a cat"


def test_a_partial_section_keeps_that_sections_own_defaults():
    config = load_config(None, ["annotate.ray.ocr.num_cpus=0.5", "filter.min_duration_s=3"])
    assert config.annotate.ray.ocr.batch_size == load_config().annotate.ray.ocr.batch_size == 16
    assert config.annotate.ray.ocr.pool_size == 1 and config.annotate.ray.ocr.num_cpus == 0.5
    assert config.filter.rules == load_config().filter.rules


def test_errors_are_one_line_naming_the_key_with_the_rule():
    cases = {"annotate.decode.bogus=1": "annotate.decode.bogus: unknown key (known: [",
             "annotate.decode.prefetch=300": "annotate.decode.prefetch: must be in [0, 256]",
             "annotate.decode.segment_s=5": "annotate.decode.segment_s: must be >= 10 seconds",
             "annotate.ocr.low_text=1": "annotate.ocr.low_text: must be in (0, 1)",
             "annotate.decode.threads=true": "annotate.decode.threads: expected an integer, got True",
             "annotate.ocr.recognition=1": "annotate.ocr.recognition: expected true or false, got 1",
             "annotate.motion.poly_n=9": "annotate.motion.poly_n: 9 is not one of [5, 7]",
             "filter.rules=[{drop_bottom: 3}]": "filter.rules[0].column: is required",
             "filter.rules=[{column: x}]": "filter.rules[0]: drops nothing",
             "storage.access_key_id=AK": "storage.secret_access_key: is not set but access_key_id is",
             "annotate.ray.scan=null": "annotate.ray.scan: expected a mapping, got NoneType"}
    for override, start in cases.items():
        with pytest.raises(ConfigError) as info:
            load_config(None, [override])
        assert str(info.value).startswith(start) and "\n" not in str(info.value), (override, str(info.value))


def test_yaml_numbers_and_lists():
    config = load_config(None, ["finetune.learning_rate=1e-4", "annotate.stages=cuts,keyframes,ocr"])
    assert config.finetune.learning_rate == 1e-4 and config.annotate.stages == ("cuts", "keyframes", "ocr")
    assert isinstance(load_config(None, ["annotate.motion.sample_fps=4"]).annotate.motion.sample_fps, float)


def test_to_dict_round_trips(tmp_path):
    import yaml

    from curation.config import to_dict

    config = load_config(None, ["annotate.cuts.levels=[1,8]", "annotate.ray.ocr.num_cpus=0.5",
                                "filter.rules=[{column: aesthetic, min: 4.5}]"])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(to_dict(config)))
    assert load_config(path) == config
    assert to_dict(config.annotate.cuts)["levels"] == [1, 8]


def test_storage_values_are_never_echoed():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["storage.secret_access_key=12345678"])
    assert "12345678" not in str(info.value)


def test_the_old_clip_stage_names_say_they_were_renamed(tmp_path):
    cases = {"annotate.clip.seed=1": "annotate.clip: renamed to annotate.aesthetic",
             "annotate.ray.clip.batch_size=4": "annotate.ray.clip: renamed to annotate.ray.aesthetic",
             "annotate.stages=cuts,keyframes,clip": "annotate.stages: the stage 'clip' was renamed to 'aesthetic'"}
    for override, message in cases.items():
        with pytest.raises(ConfigError) as info:
            load_config(None, [override])
        assert str(info.value) == message
    path = tmp_path / "old.yaml"
    path.write_text("annotate:\n  clip:\n    weights: random\n")
    with pytest.raises(ConfigError, match=r"^annotate\.clip: renamed to annotate\.aesthetic$"):
        load_config(path)
