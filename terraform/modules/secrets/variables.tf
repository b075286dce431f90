variable "project_id" {
  description = "Project that owns the secrets."
  type        = string
}

variable "ssh_key_secret_id" {
  description = "Secret holding the login node account's private SSH key (SSH_KEY_SECRET)."
  type        = string
  default     = "olc-ssh-key"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.ssh_key_secret_id))
    error_message = "Secret ids are 1-255 letters, digits, '_' and '-'."
  }
}

variable "hook_key_secret_id" {
  description = "Secret holding the completion hook's HMAC master key (HOOK_KEY_SECRET)."
  type        = string
  default     = "olc-hook-key"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.hook_key_secret_id))
    error_message = "Secret ids are 1-255 letters, digits, '_' and '-'."
  }
}

variable "smtp_password_secret_id" {
  description = "Secret holding the SMTP password (SMTP_PASSWORD_SECRET), created only when smtp_password_enabled."
  type        = string
  default     = "olc-smtp-password"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.smtp_password_secret_id))
    error_message = "Secret ids are 1-255 letters, digits, '_' and '-'."
  }
}

variable "smtp_password_enabled" {
  description = "Create the SMTP password secret (the relay needs a login)."
  type        = bool
  default     = false
}

variable "generate_hook_key" {
  description = "Generate the hook master key with an ephemeral random value (never stored in state). False: add it yourself."
  type        = bool
  default     = true
}

variable "hook_key_version" {
  description = "Increase to write a freshly generated hook master key (rotation; see docs/deploy.md)."
  type        = number
  default     = 1

  validation {
    condition     = var.hook_key_version >= 1 && floor(var.hook_key_version) == var.hook_key_version
    error_message = "hook_key_version is a whole number, at least 1."
  }
}

variable "ssh_key_readers" {
  description = "IAM members (by a static key) that read the SSH key: dispatcher and completion."
  type        = map(string)
  default     = {}
}

variable "hook_key_readers" {
  description = "IAM members (by a static key) that read the hook master key: dispatcher, completion, compute nodes."
  type        = map(string)
  default     = {}
}

variable "smtp_password_readers" {
  description = "IAM members (by a static key) that read the SMTP password: every function that sends e-mail."
  type        = map(string)
  default     = {}
}

variable "labels" {
  description = "Labels applied to the secrets."
  type        = map(string)
  default     = {}
}
