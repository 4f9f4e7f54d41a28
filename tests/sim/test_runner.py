"""Reading one simulation's report into per-test results, and each test's part of its log."""

from tinynpu.sim.runner import CaseResult, _results, case_log

REPORT = """<?xml version='1.0' encoding='utf-8'?>
<testsuites name="cocotb tests"><testsuite name="job_tb" tests="3">
<testcase classname="job_tb" name="nop" time="0.250"><properties>
<property name="sim_time_duration" value="3540.0" /></properties></testcase>
<testcase classname="job_tb" name="copy" time="1.500"><properties>
<property name="sim_time_duration" value="120.0" /></properties>
<failure message="AssertionError: 4 != 5" /></testcase>
<testcase classname="job_tb" name="later" time="0"><skipped message="skip this" /></testcase>
<testcase classname="other_tb" name="nop" time="9" />
</testsuite></testsuites>
"""

LOG = """     0.00ns INFO     cocotb.regression                  running job_tb.nop (1/3)
   100.00ns INFO     cocotb.job_tb                      nop says hello
  3540.00ns INFO     cocotb.regression                  job_tb.nop passed
  3540.00ns INFO     cocotb.regression                  running job_tb.copy (2/3)
  3600.00ns INFO     cocotb.job_tb                      copy says hello
  3660.00ns INFO     cocotb.regression                  job_tb.copy failed
  3660.00ns INFO     cocotb.regression                  running job_tb.later (3/3)
"""


def test_each_test_of_the_module_gets_its_outcome_and_times(tmp_path):
    path = tmp_path / "results.xml"
    path.write_text(REPORT)
    assert _results(path, "job_tb") == {
        "nop": CaseResult("nop", True, "", 0.25, 3540.0),
        "copy": CaseResult("copy", False, "failure: AssertionError: 4 != 5", 1.5, 120.0),
        "later": CaseResult("later", False, "skipped: skip this", 0.0, 0.0),
    }


def test_a_test_log_runs_from_its_start_to_the_next_test(tmp_path):
    log = tmp_path / "sim.log"
    log.write_text(LOG)
    lines = case_log(log, "job_tb", "copy")
    assert [line.split(maxsplit=3)[3].strip() for line in lines] == [
        "running job_tb.copy (2/3)",
        "copy says hello",
        "job_tb.copy failed",
    ]
    assert case_log(log, "job_tb", "missing") == []
    assert case_log(tmp_path / "absent.log", "job_tb", "nop") == []
