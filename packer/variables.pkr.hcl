# soci-installer: the build's inputs. `soci-installer render` writes soci.auto.pkrvars.hcl with the
# profile's values; Packer reads it automatically.

variable "region" {
  type        = string
  default     = env("AWS_REGION")
  description = "AWS region to build in; default: the AWS_REGION environment variable."
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the EKS AL2023 AMI to start from, e.g. 1.35."
}

variable "variant" {
  type        = string
  default     = "standard"
  description = "EKS AL2023 AMI variant: standard, nvidia or neuron."
}

variable "source_ami_ids" {
  type        = map(string)
  default     = { x86_64 = "", arm64 = "" }
  description = "Start from these AMIs; empty: the newest EKS AL2023 AMI for the version and variant."
}

variable "instance_types" {
  type        = map(string)
  default     = { x86_64 = "m6i.large", arm64 = "m7g.large" }
  description = "Builder instance type per architecture."
}

variable "ami_name" {
  type        = string
  description = "AMI name; {arch}, {kubernetesVersion}, {variant} and {timestamp} are filled in."
}

variable "volume_size" {
  type        = number
  default     = 20
  description = "Root volume (gp3) size in GiB."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Extra tags on the AMI and its snapshots."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet of the builder instance; empty: the default VPC."
}

variable "vpc_id" {
  type        = string
  default     = ""
  description = "VPC of the builder instance; empty: the default VPC."
}

variable "security_group_id" {
  type        = string
  default     = ""
  description = "Security group of the builder; empty: a temporary one that allows SSH."
}

variable "ssh_interface" {
  type        = string
  default     = ""
  description = "How Packer reaches the builder (public_ip, private_ip, ..., session_manager); empty: Packer's default."
}

variable "iam_instance_profile" {
  type        = string
  default     = ""
  description = "An instance profile for the builder; empty: none, or with ssh_interface session_manager a temporary one Packer creates (needs iam:CreateRole, iam:PutRolePolicy, iam:CreateInstanceProfile, iam:AddRoleToInstanceProfile, iam:PassRole and their deletes)."
}

variable "soci_version" {
  type        = string
  description = "The soci-snapshotter release the profile pins, or \"ami\" where the EKS AMI's own soci is used (soci.source: ami); written only into the AMI's soci-installer:soci-version tag."
}

variable "soci_mode" {
  type        = string
  description = "soci mode baked in (tag only)."
}

variable "soci_source" {
  type        = string
  description = "soci source: auto, ami or release (tag only)."
}

variable "generator_version" {
  type        = string
  description = "soci-installer version that wrote these files (tag only)."
}
