"""The embedded PostgreSQL's settings sized to the machine (daarion/server/embedded_tuning.py)."""

from daarion.server.embedded_tuning import MB, _same, index_build_memory_mb, tuned_settings


def test_memory_sizes_and_planner_costs():
    wanted = tuned_settings(ram_bytes=24 * 1024 * MB)
    assert wanted["shared_buffers"] == "4096MB"
    assert tuned_settings(ram_bytes=8 * 1024 * MB)["shared_buffers"] == "2048MB"
    assert wanted["random_page_cost"] == "1.1"
    assert tuned_settings(ram_bytes=512 * MB)["shared_buffers"] == "128MB"


def test_index_build_memory_scales_with_ram_between_1_and_4_gb():
    assert index_build_memory_mb(ram_bytes=2 * 1024 * MB) == 1024  # the old fixed default
    assert index_build_memory_mb(ram_bytes=24 * 1024 * MB) == 3072
    assert index_build_memory_mb(ram_bytes=64 * 1024 * MB) == 4096


def test_current_values_compare_in_their_units():
    assert _same("262144", "8kB", "2048MB")  # shared_buffers in 8 kB pages
    assert _same("16384", "kB", "16MB")
    assert _same("1.1", None, "1.1") and _same("1.1", "", "1.1")
    assert not _same("4", None, "1.1")  # a unitless setting is no longer a ValueError
