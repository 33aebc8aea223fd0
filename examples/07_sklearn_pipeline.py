"""fastmlp inside scikit-learn: a Pipeline(StandardScaler, MLPClassifier) tuned by GridSearchCV.

``fastmlp.sklearn.MLPClassifier`` takes scikit-learn's MLP parameters, so it drops into pipelines,
grid searches and cross-validation. The search runs on two joblib process workers; each trains
with its share of the cores (joblib sets NUMBA_NUM_THREADS in its workers). The best pipeline's
classifier is then saved with ``fastmlp.save`` (a .npz file, never a pickle) and loaded back.

    python examples/07_sklearn_pipeline.py [--max-iter 60] [--n-jobs 2] [--save digits.npz]
"""

import argparse
import os
import tempfile
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp
from fastmlp.sklearn import MLPClassifier


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-iter", type=int, default=60, help="epochs per fit (default 60)")
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib process workers (default 2)")
    parser.add_argument("--save", default=None, help="where to save the best classifier (default: a temporary file)")
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(solver="adam", max_iter=args.max_iter, random_state=0))
    grid = {"mlpclassifier__hidden_layer_sizes": [(32,), (64,)], "mlpclassifier__alpha": [1e-4, 1e-2]}
    search = GridSearchCV(pipeline, grid, cv=3, n_jobs=args.n_jobs)
    with warnings.catch_warnings():  # short runs on purpose: max_iter stops them before convergence
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_train, y_train)
    print(f"grid search: {len(search.cv_results_['params'])} settings x 3 folds on {args.n_jobs} workers")
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        print(f"  {params}  mean validation accuracy {score:.4f}")
    print(f"best: {search.best_params_}")
    print(f"test accuracy of the best pipeline: {search.score(X_test, y_test):.4f}")

    scaler, classifier = search.best_estimator_
    path = args.save or os.path.join(tempfile.mkdtemp(), "digits.npz")
    fastmlp.save(classifier, path)
    loaded = fastmlp.load(path)
    scaled = scaler.transform(X_test)
    same = np.array_equal(loaded.predict_proba(scaled), classifier.predict_proba(scaled))
    print(f"saved to {path}; loaded back as {type(loaded).__name__}, same probabilities: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
