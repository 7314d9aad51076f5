"""Reconstruction methods (UniSDF, NeuS, G-Shell), the trainer loop and checkpoints."""
