"""Generated collections and the benchmark that measures the pipeline against plain baselines."""
