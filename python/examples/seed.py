"""The seed's blog post, "Very Simple Dictionary Learning in PyTorch", in five
lines of dictlearn: its toy data, its model (2 atoms, softmax codes, Adam at
lr 1e-3, 10,000 full-batch epochs), the loss curve and the atoms.
It prints the numbers `dictlearn demo` prints (the same computation).

    /usr/bin/python3 python/examples/seed.py [OUTPUT_FOLDER]
"""

import os
import sys

import matplotlib

matplotlib.use("Agg")  # files, no window
import matplotlib.pyplot as plt  # noqa: E402

import dictlearn  # noqa: E402

folder = sys.argv[1] if len(sys.argv) > 1 else "dictlearn-seed-py"
os.makedirs(folder, exist_ok=True)

# The five lines: data, model, fit, loss curve, atoms.
X = dictlearn.toy_data()                               # 2,000 points around (1,0) and (0,1)
model = dictlearn.GradientDictionaryLearning().fit(X)  # 2 softmax atoms, Adam, 10,000 epochs
plt.figure(); plt.semilogy([row["mse"] for row in model.log_]); plt.savefig(f"{folder}/loss.png")
plt.figure(); plt.scatter(*X.T, s=2); plt.scatter(*model.components_.T, c="r")
plt.savefig(f"{folder}/atoms.png")

first, last = model.log_[0], model.log_[-1]
print(f"MSE: {first['mse']:.6g} at epoch {first['epoch']}, {last['mse']:.6g} at epoch "
      f"{last['epoch']}")
for i, atom in enumerate(model.components_):
    print(f"atom {i}: ({atom[0]:.3f}, {atom[1]:.3f})")
print(f"wrote {folder}/loss.png, {folder}/atoms.png")
