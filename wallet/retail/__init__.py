"""Everyday banking on top of transfers: payment requests (QR codes and payment links)."""
