output "ids" {
  description = "Secret ids by secret: ssh_key, hook_key, smtp_password (the functions get them as SSH_KEY_SECRET, HOOK_KEY_SECRET, SMTP_PASSWORD_SECRET); smtp_password is empty when no SMTP login is configured."
  value = {
    ssh_key       = google_secret_manager_secret.ssh_key.secret_id
    hook_key      = google_secret_manager_secret.hook_key.secret_id
    smtp_password = var.smtp_password_enabled ? google_secret_manager_secret.smtp_password[0].secret_id : ""
  }
}
