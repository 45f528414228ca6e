"""End-to-end experiments: one configuration dataclass (its fields are the CLI options and the sweep
parameters) and a few plain functions per experiment. torch and Brian2 are imported when one runs::

    from brainsim.experiments import JeffressConfig, simulate_jeffress, jeffress_summary
    run = simulate_jeffress([30.0], JeffressConfig())
"""
from .compare import CompareParams, Comparison, compare, run_comparison
from .delays import (DelayTask, ImpulseParams, IPDDelayParams, LaggingRunParams, PatternParams, ToyParams,
                     TorchRunParams, impulse_responses, run_ipd_delays, run_lagging, run_lagging_many, run_torch,
                     toy_problem)
from .ipd import (PRESETS, IPDEvaluation, IPDExecution, IPDProtocol, ProtocolChoice, TrainingResult, analyse_model,
                  evaluate_model, protocol_from, train_ipd)
from .jeffress import JeffressConfig, JeffressRun, accuracy_metrics, jeffress_summary, simulate_jeffress
from .mnist import EvaluationParams, MnistSamples, StageOptions

__all__ = ["PRESETS", "CompareParams", "Comparison", "DelayTask", "EvaluationParams", "IPDDelayParams", "IPDEvaluation",
           "IPDExecution", "IPDProtocol", "ImpulseParams", "JeffressConfig", "JeffressRun", "LaggingRunParams",
           "MnistSamples", "PatternParams", "ProtocolChoice", "StageOptions", "ToyParams", "TorchRunParams",
           "TrainingResult", "accuracy_metrics", "analyse_model", "compare", "evaluate_model", "impulse_responses",
           "jeffress_summary", "protocol_from", "run_comparison", "run_ipd_delays", "run_lagging", "run_lagging_many",
           "run_torch", "simulate_jeffress", "toy_problem", "train_ipd"]
