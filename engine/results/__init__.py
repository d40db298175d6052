"""The results file: what a run computed, in memory (`RunResults`) and on disk (HDF5 / netCDF-4).

One module per concern:

- `variables`  the file's variables: names, dimensions, units, the RunResults field of each.
- `runresults` `RunResults` (validated on creation) and `count_pc_histogram`, the histogram rule.
- `write`      `write_results`: atomic HDF5 write on engine.files.h5io's netCDF-4 dimension writer.
- `read`       `load_fields` (what the plots read) and `read_results` (the whole file, checked):
               the one place a results source is opened and checked.
- `merge`      `merge_results` / `merge_files`: shards of one run -> the run.
- `summarize`  `summary`: per-target numbers for the CLI summary and ``--json``.

The names below are importable from ``fragrisk.engine.results`` directly.
"""

from .merge import merge_files, merge_results
from .read import load_fields, read_results
from .runresults import DEFAULT_PC_EDGES_LOG10, PER_FILE_ATTRS, REQUIRED_ATTRS, RunResults, count_pc_histogram
from .summarize import summary
from .variables import FILE_VARIABLES, VARIABLES, Variable
from .write import write_results

__all__ = [
    "DEFAULT_PC_EDGES_LOG10",
    "FILE_VARIABLES",
    "PER_FILE_ATTRS",
    "REQUIRED_ATTRS",
    "RunResults",
    "VARIABLES",
    "Variable",
    "count_pc_histogram",
    "load_fields",
    "merge_files",
    "merge_results",
    "read_results",
    "summary",
    "write_results",
]
