"""The embedded PostgreSQL's settings sized to the machine (daarion/server/embedded_tuning.py)."""

from daarion.server.embedded_tuning import MB, _same, tuned_settings


def test_memory_sizes_and_planner_costs():
    wanted = tuned_settings(ram_bytes=24 * 1024 * MB)
    assert wanted["shared_buffers"] == "4096MB"
    assert tuned_settings(ram_bytes=8 * 1024 * MB)["shared_buffers"] == "2048MB"
    assert wanted["random_page_cost"] == "1.1"
    assert tuned_settings(ram_bytes=512 * MB)["shared_buffers"] == "128MB"


def test_current_values_compare_in_their_units():
    assert _same("262144", "8kB", "2048MB")  # shared_buffers in 8 kB pages
    assert _same("16384", "kB", "16MB")
    assert _same("1.1", None, "1.1") and _same("1.1", "", "1.1")
    assert not _same("4", None, "1.1")  # a unitless setting is no longer a ValueError
