output "ssh_key_secret_id" {
  description = "Secret id of the SSH key (SSH_KEY_SECRET)."
  value       = google_secret_manager_secret.ssh_key.secret_id
}

output "hook_key_secret_id" {
  description = "Secret id of the hook master key (HOOK_KEY_SECRET)."
  value       = google_secret_manager_secret.hook_key.secret_id
}

output "smtp_password_secret_id" {
  description = "Secret id of the SMTP password (SMTP_PASSWORD_SECRET); empty when no SMTP login is configured."
  value       = var.smtp_password_enabled ? google_secret_manager_secret.smtp_password[0].secret_id : ""
}
