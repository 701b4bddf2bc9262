"""Downstream pain recognition: heads, fusion, subject-wise protocols, metrics, pipeline, reports, demo."""

from .fusion import FUSION_LEVELS, FUSION_METHODS, FusionSpec, fuse, plan_experiments
from .heads import FineTuneConfig, FineTuner, Head, HeadConfig, finetune, load_head, save_head, train_head, train_heads
from .metrics import aggregate_folds, classification_metrics
from .pipeline import (EmbeddingTable, PipelineConfig, evaluate, evaluate_embeddings, evaluate_finetune, extract_embeddings,
                       train_final_head, trial_windows)
from .protocols import PROTOCOLS, Fold, assert_subject_disjoint, make_folds
from .report import weights_banner, write_report
from .demo import DemoConfig, demo_config, run_demo
from .run import run_evaluation, run_finetune, run_training
from .predict import load_model_for_head, predict, write_predictions

__all__ = [
    "FUSION_LEVELS", "FUSION_METHODS", "FusionSpec", "fuse", "plan_experiments",
    "HeadConfig", "Head", "train_head", "train_heads", "save_head", "load_head", "FineTuneConfig", "FineTuner", "finetune",
    "classification_metrics", "aggregate_folds",
    "PipelineConfig", "EmbeddingTable", "trial_windows", "extract_embeddings", "evaluate_embeddings", "evaluate", "evaluate_finetune",
    "train_final_head",
    "PROTOCOLS", "Fold", "make_folds", "assert_subject_disjoint",
    "write_report", "weights_banner", "DemoConfig", "demo_config", "run_demo",
    "run_evaluation", "run_training", "run_finetune",
    "predict", "write_predictions", "load_model_for_head",
]
