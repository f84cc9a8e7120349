#!/usr/bin/env python3
"""Three labs of the course as FIDLE teaches them in PyTorch, the same jobs as `neurons run
mlp-classifier`, `neurons run cnn` and `neurons run vae` with their defaults, for
bench/labs.sh to time end to end (start-up, data loading, training, pictures).

Usage: fidle_labs.py {mlp-classifier,cnn,vae} --out DIR [--threads N] [--seed S]

Each job reads the same files as neurons (data/mnist-10k/*.gz, 8,000 train and 2,000 test
digits), trains the same model with the same epochs, batch size, optimizer and loss, measures the
test set after every epoch, saves a checkpoint every epoch, and at the end writes what the neurons
run directory holds: metrics.csv, summary.json, the weights and the same pictures (matplotlib).

  mlp-classifier  FIDLE MNIST1: pixels standardized with the training mean and std, Dense 100
                  ReLU, Dense 100 ReLU, Dense 10; Adam 1e-3, batch 64, 20 epochs, cross-entropy.
  cnn             FIDLE MNIST2: Conv 8 3x3 ReLU, MaxPool 2, Dropout 0.2, Conv 16 3x3 ReLU,
                  MaxPool 2, Dropout 0.2, Dense 100 ReLU, Dropout 0.5, Dense 10; Adam 1e-3,
                  batch 64, 30 epochs.
  vae             FIDLE VAE1-3 (2-D latent space): the vae_train network of bench/README.md;
                  pixels in 0..1, loss = summed BCE + KL per image; Adam 1e-3, batch 64, 10 epochs.
"""
import argparse, csv, gzip, json, os, pathlib, sys, time

START = time.time()  # before the imports that cost: the wall time a user waits

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "mnist-10k"


# --- data: the IDX files, as FIDLE's notebooks read MNIST ------------------------------------
def read_idx(name):
    with gzip.open(DATA / name, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load():
    x_train = read_idx("train-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y_train = read_idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    x_test = read_idx("t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y_test = read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    return t(x_train[:, None]), t(y_train), t(x_test[:, None]), t(y_test)


# --- models ------------------------------------------------------------------------------------
class Mlp(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10)
        )

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


class Cnn(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
            nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
            nn.Flatten(), nn.Linear(16 * 5 * 5, 100), nn.ReLU(), nn.Dropout(0.5), nn.Linear(100, 10),
        )

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


class Vae(nn.Module):
    def __init__(self, latent=2):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 16), nn.ReLU(),
        )
        self.mu, self.log_var = nn.Linear(16, latent), nn.Linear(16, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 64, 3, 1, 1), nn.ReLU(), nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 3, 1, 1),
        )  # logits: the sigmoid is inside the BCE
        # He's initialisation for ReLU, U(±√(6/fan_in)), weights and biases, as the neurons lab:
        # with PyTorch's default U(±√(1/fan_in)) this VAE collapses to the mean digit (measured:
        # test loss 206 per image, KL 0.007, as the neurons lab notes for burn's same default).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                fan_in = nn.init._calculate_fan_in_and_fan_out(m.weight)[0]
                nn.init.uniform_(m.bias, -(6 / fan_in) ** 0.5, (6 / fan_in) ** 0.5)

    def encode(self, x):
        h = self.encoder(x)
        return self.mu(h), self.log_var(h)

    def losses(self, x):
        mu, log_var = self.encode(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        logits = self.decoder(z)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
        kl = -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(1)
        return rec, kl


# --- training ----------------------------------------------------------------------------------
def batches(n, size, generator=None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return [order[i : i + size] for i in range(0, n, size)]


def train_classifier(model, data, epochs, out, seed):
    x_train, y_train, x_test, y_test = data
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        loss_sum, correct = 0.0, 0
        for idx in batches(len(x_train), 64, g):
            logits = model(x_train[idx])
            loss = F.cross_entropy(logits, y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y_train[idx]).sum().item()
        test_loss, test_acc, _ = evaluate_classifier(model, x_test, y_test)
        history.append((epoch, loss_sum / len(x_train), correct / len(x_train), test_loss, test_acc))
        print(f"epoch {epoch}/{epochs}  loss {history[-1][1]:.4f}  test accuracy {test_acc:.4f}", flush=True)
        torch.save(model.state_dict(), out / "checkpoint.pt")
    return history


@torch.no_grad()
def evaluate_classifier(model, x, y):
    model.eval()
    logits = torch.cat([model(x[i : i + 256]) for i in range(0, len(x), 256)])
    predicted = logits.argmax(1)
    return F.cross_entropy(logits, y).item(), (predicted == y).float().mean().item(), predicted


def classifier_pictures(model, data, history, out, title):
    _, _, x_test, y_test = data
    _, accuracy, predicted = evaluate_classifier(model, x_test, y_test)
    h = np.array(history)
    for name, train_col, test_col in (("loss", 1, 3), ("accuracy", 2, 4)):
        fig, ax = plt.subplots(figsize=(8, 5))
        ax.plot(h[:, 0], h[:, train_col], label="train")
        ax.plot(h[:, 0], h[:, test_col], label="test")
        ax.set(title=f"{title}: {name}", xlabel="epoch", ylabel=name)
        ax.legend()
        fig.savefig(out / f"{name}.png", dpi=100)
        plt.close(fig)
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (y_test.numpy(), predicted.numpy()), 1)
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(confusion / confusion.sum(1, keepdims=True), cmap="Blues")
    for i in range(10):
        for j in range(10):
            ax.text(j, i, confusion[i, j], ha="center", va="center", fontsize=8)
    ax.set(title=f"{title}: confusion matrix", xlabel="predicted", ylabel="true")
    fig.savefig(out / "confusion-matrix.png", dpi=100)
    plt.close(fig)
    wrong = (predicted != y_test).nonzero().flatten()[:36]
    fig, axes = plt.subplots(6, 6, figsize=(8, 8))
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(x_test[i, 0], cmap="gray_r")
        ax.set_title(f"{y_test[i].item()} read {predicted[i].item()}", fontsize=8)
    fig.savefig(out / "misclassified.png", dpi=100)
    plt.close(fig)
    return accuracy


def train_vae(model, data, epochs, out, seed):
    x_train, _, x_test, _ = data
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        rec_sum, kl_sum = 0.0, 0.0
        for idx in batches(len(x_train), 64, g):
            rec, kl = model.losses(x_train[idx])
            loss = (rec + kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec_sum, kl_sum = rec_sum + rec.sum().item(), kl_sum + kl.sum().item()
        with torch.no_grad():
            model.eval()
            parts = [model.losses(x_test[i : i + 250]) for i in range(0, len(x_test), 250)]
            test_rec = sum(r.sum().item() for r, _ in parts) / len(x_test)
            test_kl = sum(k.sum().item() for _, k in parts) / len(x_test)
        n = len(x_train)
        history.append((epoch, (rec_sum + kl_sum) / n, rec_sum / n, kl_sum / n, test_rec + test_kl, test_rec, test_kl))
        print(f"epoch {epoch}/{epochs}  loss {history[-1][1]:.1f}  test {history[-1][4]:.1f}", flush=True)
        torch.save(model.state_dict(), out / "checkpoint.pt")
    return history


@torch.no_grad()
def vae_pictures(model, data, history, out):
    _, _, x_test, y_test = data
    model.eval()
    h = np.array(history)
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(h[:, 0], h[:, 1], label="train")
    ax.plot(h[:, 0], h[:, 4], label="test")
    ax.set(title="VAE: loss", xlabel="epoch", ylabel="loss per image")
    ax.legend()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)
    mu = torch.cat([model.encode(x_test[i : i + 250])[0] for i in range(0, len(x_test), 250)])
    fig, ax = plt.subplots(figsize=(8, 8))
    scatter = ax.scatter(mu[:, 0], mu[:, 1], c=y_test, cmap="tab10", s=4)
    ax.legend(*scatter.legend_elements(), title="digit")
    ax.set(title="VAE: latent space of the test digits")
    fig.savefig(out / "latent-space.png", dpi=100)
    plt.close(fig)
    grid = torch.linspace(-3, 3, 16)
    z = torch.stack(torch.meshgrid(grid, -grid, indexing="xy"), -1).reshape(-1, 2)
    digits = torch.sigmoid(model.decoder(z)).reshape(16, 16, 28, 28)
    plt.imsave(out / "latent-grid.png", digits.permute(0, 2, 1, 3).reshape(16 * 28, 16 * 28).numpy(), cmap="gray")
    x = x_test[:16]
    mu, _ = model.encode(x)
    rows = torch.cat([x[:, 0], torch.sigmoid(model.decoder(mu))[:, 0]])
    plt.imsave(out / "reconstructions.png", rows.reshape(2, 16, 28, 28).permute(0, 2, 1, 3).reshape(56, 16 * 28).numpy(), cmap="gray")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lab", choices=["mlp-classifier", "cnn", "vae"])
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    data = load()
    mean, std = data[0].mean().item(), data[0].std().item()
    started = time.time()
    if args.lab == "vae":
        model = Vae()
        history = train_vae(model, data, 10, args.out, args.seed)
        vae_pictures(model, data, history, args.out)
        metrics = {"loss": history[-1][4], "reconstruction": history[-1][5], "kl": history[-1][6]}
        header = ["epoch", "loss", "reconstruction", "kl", "test_loss", "test_reconstruction", "test_kl"]
    else:
        model = (Mlp if args.lab == "mlp-classifier" else Cnn)(mean, std)
        epochs = 20 if args.lab == "mlp-classifier" else 30
        history = train_classifier(model, data, epochs, args.out, args.seed)
        title = "MLP classifier" if args.lab == "mlp-classifier" else "CNN"
        accuracy = classifier_pictures(model, data, history, args.out, title)
        metrics = {"accuracy": accuracy, "loss": history[-1][3]}
        header = ["epoch", "loss", "accuracy", "test_loss", "test_accuracy"]
    torch.save(model.state_dict(), args.out / "model.pt")
    with open(args.out / "metrics.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *history])
    summary = {"lab": args.lab, "metrics": metrics, "training_seconds": time.time() - started, "wall_seconds": time.time() - START}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
