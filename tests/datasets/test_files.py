"""fastmlp.datasets.files: labelled .npz and .csv files, and feature files for prediction."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp import datasets
from fastmlp.datasets import load

from idx_data import write_idx


def test_npz_with_its_own_splits(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "keras.npz"
    # Keras' mnist.npz layout: lower-case names, (n, 28, 28) uint8 images
    np.savez(path, x_train=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), y_train=np.arange(10) % 4,
             x_test=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), y_test=np.arange(5) % 4)
    data = load(path)
    assert data.train[0].shape == (10, 784) and data.train[0].dtype == np.uint8
    assert data.image_shape == (28, 28) and data.n_classes == 4


def test_npz_with_one_split_is_split_here(tmp_path):
    path = tmp_path / "xy.npz"
    np.savez(path, X=np.arange(40, dtype=np.float64).reshape(20, 2), y=np.arange(20) % 2)
    (X_train, y_train), (X_test, y_test) = load(path, test_fraction=0.25)
    assert X_train.shape == (15, 2) and X_test.shape == (5, 2)
    assert sorted(X_train[:, 0].tolist() + X_test[:, 0].tolist()) == list(range(0, 40, 2))


@pytest.mark.parametrize("arrays, message", [
    (dict(a=np.zeros(3)), "expected arrays X_train"),
    (dict(X=np.zeros((4, 2)), y=np.array([0.5, 1, 0, 1])), "whole numbers"),
    (dict(X=np.zeros((4, 2)), y=np.array([0, -1, 0, 1])), ">= 0"),
    (dict(X=np.zeros((4, 2)), y=np.array([0, 1, 0])), "4 samples but 3 labels"),
])
def test_bad_npz_files(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        load(path)


def test_a_file_that_is_not_npz(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load(path)


def test_csv_with_a_named_label_column_and_class_names(tmp_path):
    path = tmp_path / "flowers.csv"
    rows = ["width,species,length"] + [f"{i / 10},{'setosa' if i % 2 else 'virginica'},{i}" for i in range(10)]
    path.write_text("\n".join(rows) + "\n")
    X, y, class_names = datasets.read_csv(path, label_column="species")
    assert X.shape == (10, 2) and X.dtype == np.float32
    assert class_names == ["setosa", "virginica"]
    assert y.tolist() == [1, 0] * 5
    np.testing.assert_allclose(X[3], [0.3, 3])
    data = load(path, label_column="species", test_fraction=0.2)
    assert data.class_names == ("setosa", "virginica") and data.test[0].shape == (2, 2)


def test_csv_text_labels_numbered_by_given_class_names(tmp_path):
    """A model's class names number the labels, so a file missing a class keeps training's numbering; quoted
    names may hold commas; a label the model does not know is named in the error."""
    path = tmp_path / "flowers.csv"
    path.write_text('width,species\n1,"iris, white"\n2,virginica\n3,"iris, white"\n')
    names = ["setosa", "iris, white", "virginica"]
    X, y, class_names = datasets.read_csv(path, label_column="species", class_names=names)
    assert y.tolist() == [1, 2, 1] and class_names == names and X[:, 0].tolist() == [1, 2, 3]
    assert datasets.read_csv(path, label_column="species")[1].tolist() == [0, 1, 0]  # sorted by default
    data = load(path, label_column="species", class_names=names, test_fraction=0.34)
    assert data.class_names == tuple(names) and data.n_classes == 3
    with pytest.raises(ValueError, match=r"labels 'iris, white', 'virginica' are not among the model's classes"):
        datasets.read_csv(path, label_column="species", class_names=["setosa", "rose"])


def test_csv_label_column_found_by_name(tmp_path):
    path = tmp_path / "named.csv"
    path.write_text("a,b,Class\n0.5,1,1\n0.25,2,0\n")
    X, y, _ = datasets.read_csv(path)
    assert y.tolist() == [1, 0] and X.tolist() == [[0.5, 1], [0.25, 2]]


def test_csv_without_header_takes_the_first_column(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("1,0.5,0\n0,1.5,2\n2,3,4\n")
    X, y, names = datasets.read_csv(path)
    assert y.tolist() == [1, 0, 2] and names is None
    assert X.tolist() == [[0.5, 0], [1.5, 2], [3, 4]]
    X, y, _ = datasets.read_csv(path, label_column=-1)
    assert y.tolist() == [0, 2, 4]
    with pytest.raises(ValueError, match="out of range"):
        datasets.read_csv(path, label_column=3)


def test_csv_errors(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,label\n1,2,0\n3,x,1\n")
    with pytest.raises(ValueError, match="not a CSV file of numbers.*label column taken was 'label'"):
        load(path)
    with pytest.raises(ValueError, match="no column named 'kind'"):
        datasets.read_csv(path, label_column="kind")
    (tmp_path / "fractions.csv").write_text("label,a\n0.5,1\n1,2\n")
    with pytest.raises(ValueError, match="whole numbers"):
        load(tmp_path / "fractions.csv")
    (tmp_path / "one.csv").write_text("1\n2\n")
    with pytest.raises(ValueError, match="label column and at least one feature"):
        load(tmp_path / "one.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty CSV"):
        load(tmp_path / "empty.csv")


def test_read_features_from_each_format(tmp_path):
    images = np.arange(2 * 9, dtype=np.uint8).reshape(2, 3, 3)
    np.save(tmp_path / "x.npy", images)
    np.savez(tmp_path / "x.npz", X_train=np.zeros((1, 9)), X_test=images)
    write_idx(tmp_path / "x-idx3-ubyte.gz", images)
    (tmp_path / "x.csv").write_text("p0,label,p1\n1,7,2\n3,8,4\n")
    for name in ("x.npy", "x.npz", "x-idx3-ubyte.gz"):
        X = datasets.read_features(tmp_path / name)
        assert X.shape == (2, 9) and X.dtype == np.uint8, name
    assert datasets.read_features(tmp_path / "x.csv").tolist() == [[1, 2], [3, 4]]  # label column dropped
    assert datasets.read_features(tmp_path / "x.csv", label_column="p0").tolist() == [[7, 2], [8, 4]]
    assert datasets.read_features(tmp_path / "x.csv", label_column=2).tolist() == [[1, 7], [3, 8]]
    with pytest.raises(FileNotFoundError):
        datasets.read_features(tmp_path / "missing.npy")


def _damaged_npz(tmp_path, how):
    path = tmp_path / f"{how}.npz"
    np.savez_compressed(path, X=np.random.default_rng(0).random((100, 5)), y=np.arange(100) % 2)
    raw = bytearray(path.read_bytes())
    if how == "not-a-zip":
        raw = bytearray(b"PK\x03\x04garbage")
    elif how == "header":
        raw[200:260] = bytes(60)  # inside the first member's .npy header
    elif how == "npy":
        np.save(path.with_suffix(".npy"), np.zeros((2, 3)))  # a .npy by another name
        raw = bytearray(path.with_suffix(".npy").read_bytes())
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("how", ["not-a-zip", "header", "npy"])
def test_a_damaged_npz_file_is_a_value_error_naming_it(tmp_path, how):
    path = _damaged_npz(tmp_path, how)
    for read in (load, datasets.read_features):
        with pytest.raises(ValueError, match=f"{how}.npz: not a readable .npz file"):
            read(path)


def test_a_garbled_npy_header_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 3)))
    path.write_bytes(path.read_bytes().replace(b"(2, 3)", b"(2, 3("))  # NumPy: tokenize.TokenError
    with pytest.raises(ValueError, match="x.npy: not a readable .npy file"):
        datasets.read_features(path)


def test_npz_test_split_with_other_features_than_training(tmp_path):
    path = tmp_path / "mismatch.npz"
    np.savez(path, X_train=np.zeros((10, 3)), y_train=np.arange(10) % 2, X_test=np.zeros((5, 4)),
             y_test=np.arange(5) % 2)
    with pytest.raises(ValueError, match="X_train has 3 features per sample but X_test 4"):
        load(path)


def test_csv_row_without_a_label_is_an_error(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("label,a\n1,2\n,3\n0,4\n")  # read as class names '', '0', '1' before
    with pytest.raises(ValueError, match=r"gap.csv: 1 data row\(s\) have no label .* 'label' .*data row 2\)"):
        load(path)


def test_csv_that_is_not_utf8_text_is_an_error_naming_it(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("label,caf\xe9\n1,2\n0,3\n".encode("latin-1"))
    for read in (datasets.read_csv, datasets.read_features):
        with pytest.raises(ValueError, match="latin.csv: not a text CSV file"):
            read(path)


def test_csv_with_a_blank_first_line(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\nlabel,a\n1,2\n0,3\n")
    with pytest.raises(ValueError, match="blank.csv: the first line is blank"):
        load(path)


def test_npz_features_keep_their_dtype_as_load_says(tmp_path):
    path = tmp_path / "f64.npz"
    np.savez(path, X=np.arange(40, dtype=np.float64).reshape(20, 2), y=np.arange(20) % 2)
    assert load(path).train[0].dtype == np.float64
    assert "an ``.npz`` file's arrays in their own" in load.__doc__  # said float32 before


def test_csv_cells_with_a_hash_are_cells_not_comments(tmp_path):
    path = tmp_path / "hash.csv"
    path.write_text("label,a\n#1,2\nplain,3\n#1,4\n")  # the '#1' rows were dropped silently before
    X, y, class_names = datasets.read_csv(path)
    assert X.ravel().tolist() == [2, 3, 4] and class_names == ["#1", "plain"] and y.tolist() == [0, 1, 0]
    (tmp_path / "trailing.csv").write_text("label,a\n1,2 # two\n0,3\n")  # a number and a remark: not a number
    with pytest.raises(ValueError, match="not a CSV file of numbers"):
        datasets.read_csv(tmp_path / "trailing.csv")


@pytest.mark.parametrize("name", ["xor", "labels.npz"])
def test_a_label_column_for_data_without_columns_is_an_error(tmp_path, name):
    path = tmp_path / "labels.npz"
    np.savez(path, X=np.zeros((10, 2)), y=np.arange(10) % 2)
    source = path if name.endswith(".npz") else name
    with pytest.raises(ValueError, match="label_column \\('y'\\) names a column of a .csv file"):  # ignored before
        load(source, label_column="y")
    if name.endswith(".npz"):
        with pytest.raises(ValueError, match="names a column of a .csv file"):
            datasets.read_features(path, label_column="y")


def test_csv_row_with_more_cells_than_the_header_is_an_error(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("label,a,b\n1,2,3\n0,4,5,6\n")  # the 6 was dropped silently before
    for read in (datasets.read_csv, datasets.read_features):
        with pytest.raises(ValueError, match="wide.csv: line 3 has 4 cells, the first line 3"):
            read(path)
    (tmp_path / "quoted.csv").write_text('label,a\n"x,y",2\n"z",3\n')  # commas in quotes are one cell
    assert datasets.read_csv(tmp_path / "quoted.csv")[2] == ["x,y", "z"]
