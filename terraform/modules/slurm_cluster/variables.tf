variable "mode" {
  description = "`create` a slurm-gcp v6 cluster, or use an `existing` one through its login node."
  type        = string
  default     = "create"

  validation {
    condition     = contains(["create", "existing"], var.mode)
    error_message = "mode is \"create\" or \"existing\"."
  }
}

variable "project_id" {
  description = "Project of the cluster."
  type        = string
}

variable "region" {
  description = "Region of the cluster."
  type        = string
}

variable "zone" {
  description = "Zone of the controller, login and compute nodes (also LOGIN_NODE_ZONE)."
  type        = string
}

variable "deployment_name" {
  description = "Prefix of the cluster's Google Cloud resources (network, service accounts, firewall)."
  type        = string
  default     = "olc-slurm"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}$", var.deployment_name))
    error_message = "deployment_name is 2-19 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "slurm_cluster_name" {
  description = "Slurm cluster name (slurm-gcp: a letter then up to 9 letters or digits); prefixes the VM names."
  type        = string
  default     = "olc"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,9}$", var.slurm_cluster_name))
    error_message = "slurm_cluster_name is a lowercase letter followed by up to 9 lowercase letters or digits."
  }
}

variable "labels" {
  description = "Labels applied to the cluster's resources."
  type        = map(string)
  default     = {}
}

# --------------------------------------------------------------------------------------- the OLC account
variable "login_user" {
  description = "Account that submits the runs (SLURM_LOGIN_USER), created on the login and compute nodes."
  type        = string
  default     = "olc"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,30}$", var.login_user))
    error_message = "login_user is a POSIX user name."
  }
}

variable "login_uid" {
  description = "Uid and gid of the login_user, identical on every node (outside the OS Login and system ranges)."
  type        = number
  default     = 2001

  validation {
    condition     = var.login_uid >= 1000 && var.login_uid < 60000
    error_message = "login_uid must be between 1000 and 59999."
  }
}

variable "ssh_public_key" {
  description = "Public half of the key in the SSH key secret, authorized for login_user on the login node."
  type        = string
  default     = ""

  validation {
    condition     = var.ssh_public_key == "" || can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( [^'\\n]*)?$", var.ssh_public_key))
    error_message = "ssh_public_key is one OpenSSH public key line (no single quotes)."
  }
}

variable "work_root" {
  description = "Work root of the runs on the shared disk (SLURM_WORK_ROOT)."
  type        = string
  default     = "/home/olc/jobs"
}

variable "hook_url" {
  description = "URL of the completion hook, as the compute nodes call it (COMPLETION_URL)."
  type        = string

  validation {
    condition     = startswith(var.hook_url, "https://")
    error_message = "hook_url must be an https:// URL."
  }
}

variable "hook_key_secret_id" {
  description = "Secret id of the hook master key the compute nodes fetch at boot."
  type        = string
}

variable "function_network_tags" {
  description = "Network tags of the functions' Direct VPC interfaces, allowed to reach the login node on port 22."
  type        = list(string)
  default     = ["olc-functions"]
}

# -------------------------------------------------------------------------------------------- create mode
variable "partition_name" {
  description = "Partition of the runs (SLURM_PARTITION); slurm-gcp allows lowercase letters and digits."
  type        = string
  default     = "olc"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,15}$", var.partition_name))
    error_message = "partition_name is a lowercase letter followed by up to 15 lowercase letters or digits."
  }
}

variable "controller_machine_type" {
  description = "Machine type of the controller (also the NFS server of /home and /apps)."
  type        = string
  default     = "n2-standard-2"
}

variable "controller_disk_size_gb" {
  description = "Boot disk of the controller, which holds /home (run work dirs) and /apps (images, PDKs)."
  type        = number
  default     = 100

  validation {
    condition     = var.controller_disk_size_gb >= 50
    error_message = "controller_disk_size_gb must be at least 50."
  }
}

variable "login_machine_type" {
  description = "Machine type of the login node (runs only sbatch/squeue/scontrol for the service)."
  type        = string
  default     = "n2-standard-2"
}

variable "compute_machine_type" {
  description = "Machine type of the compute nodes."
  type        = string
  default     = "n2-standard-4"
}

variable "compute_max_nodes" {
  description = "Most compute nodes at once (created on demand, deleted when idle)."
  type        = number
  default     = 5

  validation {
    condition     = var.compute_max_nodes >= 1
    error_message = "compute_max_nodes must be at least 1."
  }
}

variable "compute_disk_size_gb" {
  description = "Boot disk of each compute node."
  type        = number
  default     = 50

  validation {
    condition     = var.compute_disk_size_gb >= 50
    error_message = "compute_disk_size_gb must be at least 50 (the slurm-gcp image)."
  }
}

variable "compute_spot" {
  description = "Use Spot VMs for compute nodes (cheaper; a preempted run is requeued by Slurm)."
  type        = bool
  default     = false
}

variable "exclusive_nodes" {
  description = "One job per node (true) or pack jobs onto nodes by CPU and memory (false)."
  type        = bool
  default     = false
}

# ------------------------------------------------------------------------------------------ existing mode
variable "existing_login_host" {
  description = "Address of the existing cluster's login node (mode = existing)."
  type        = string
  default     = ""
}

variable "existing_network" {
  description = "VPC network of the existing cluster for the functions' Direct VPC egress; empty: login host reachable without it."
  type        = string
  default     = ""
}

variable "existing_subnetwork" {
  description = "Subnetwork of existing_network the functions take addresses from."
  type        = string
  default     = ""
}

variable "existing_compute_member" {
  description = "IAM member of the existing cluster's compute nodes (serviceAccount:...), or empty if they are not on Google Cloud."
  type        = string
  default     = ""
}
