output "login_node" {
  description = "How the functions find the login node: host (SLURM_LOGIN_HOST; empty for a created cluster, found by name since its IP can change), zone (LOGIN_NODE_ZONE) and name fragment (LOGIN_NODE_PATTERN)."
  value = {
    host    = local.create ? "" : var.existing_login_host
    zone    = local.create ? var.zone : ""
    pattern = local.login_pattern
  }
}

output "network" {
  description = "Network for the functions' Direct VPC egress (empty: none)."
  value       = local.create ? module.network[0].network_name : var.existing_network
}

output "subnetwork" {
  description = "Subnetwork for the functions' Direct VPC egress (empty: none)."
  value       = local.create ? module.network[0].subnetwork_name : var.existing_subnetwork
}

output "compute_member" {
  description = "IAM member of the compute nodes (empty when unknown)."
  value       = local.compute_member
}

output "login_member" {
  description = "IAM member of the login node (places the images on /apps); empty for an existing cluster."
  value       = local.create ? "serviceAccount:${google_service_account.login[0].email}" : ""
}

output "epilog_script" {
  description = "The epilog (infra/slurm/epilog.sh) as installed through epilog_scripts; install it yourself on an existing cluster."
  value       = local.epilog_script
}

output "epilog_env" {
  description = "Contents of /etc/olc/epilog.env on every compute node."
  value       = local.epilog_env
}

output "compute_setup_script" {
  description = "Compute node setup (account, Apptainer, epilog configuration, hook key)."
  value       = local.compute_setup_script
}

output "login_setup_script" {
  description = "Login node setup (account with the dispatcher's public key, work root, /apps folders, Apptainer)."
  value       = local.login_setup_script
}
