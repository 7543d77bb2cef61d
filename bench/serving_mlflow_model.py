"""Run inside .venv-bench: wrap the trained XGBoost model file as an MLflow model directory."""

from __future__ import annotations

import sys

import mlflow.xgboost
import pandas as pd
import xgboost as xgb
from mlflow.models import infer_signature

model_file, out_dir, n_features = sys.argv[1], sys.argv[2], int(sys.argv[3])
booster = xgb.Booster(model_file=model_file)
columns = [f"f{i}" for i in range(n_features)]
example = pd.DataFrame([[0.0] * n_features], columns=columns)
signature = infer_signature(example, booster.inplace_predict(example.to_numpy()))
mlflow.xgboost.save_model(booster, out_dir, signature=signature)
print(out_dir)
