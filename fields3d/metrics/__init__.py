"""Metrics: Chamfer, F-score, normal consistency, PSNR/SSIM, ATE, depth errors, accuracy, mIoU."""
