"""Fields: SDF fields, colour heads (view, reflection, blended), tri-plane fields."""
