"""Example emorl-eval plug-in: a soft K-means slot baseline (see ``my_model.kmeans``)."""

from my_model.kmeans import SoftKMeans, SoftKMeansConfig

__all__ = ["SoftKMeans", "SoftKMeansConfig"]
