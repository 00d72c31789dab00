"""Models: the plugin interface (`autoencoder`), building and checking a plugin, the
one compiled view every consumer measures and encodes through (`view`), strict
checkpoints, and what a trained model is used for: metrics, probes, anomaly scores,
codes, exports, the projector. Imports the data wing and the root helpers."""
