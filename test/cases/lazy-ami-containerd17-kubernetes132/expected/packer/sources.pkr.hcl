# soci-installer: one amazon-ebs source per architecture, each starting from the EKS AL2023 AMI.

locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
  ami_names = {
    for arch in ["x86_64", "arm64"] : arch => replace(replace(replace(replace(var.ami_name,
      "{arch}", arch),
      "{kubernetesVersion}", var.kubernetes_version),
      "{variant}", var.variant),
    "{timestamp}", local.timestamp)
  }
  # What was baked, on the AMI and its snapshots. {{ .SourceAMI }} is filled in by Packer.
  baked_tags = merge(var.tags, {
    "soci-installer:generator-version" = var.generator_version
    "soci-installer:soci-version"      = var.soci_version
    "soci-installer:soci-mode"         = var.soci_mode
    "soci-installer:soci-source"       = var.soci_source
    "soci-installer:source-ami"        = "{{ .SourceAMI }}"
    "soci-installer:source-ami-name"   = "{{ .SourceAMIName }}"
    "soci-installer:kubernetes"        = var.kubernetes_version
    "soci-installer:variant"           = var.variant
  })
}

source "amazon-ebs" "x86_64" {
  region        = var.region
  instance_type = var.instance_types["x86_64"]
  source_ami    = var.source_ami_ids["x86_64"]
  dynamic "source_ami_filter" {
    for_each = var.source_ami_ids["x86_64"] == "" ? ["newest"] : []
    content {
      owners      = ["amazon"]
      most_recent = true
      filters = {
        name                = "amazon-eks-node-al2023-x86_64-${var.variant}-${var.kubernetes_version}-v*"
        architecture        = "x86_64"
        root-device-type    = "ebs"
        virtualization-type = "hvm"
      }
    }
  }
  ami_name          = local.ami_names["x86_64"]
  ami_description   = "EKS AL2023 ${var.kubernetes_version} ${var.variant} with soci-snapshotter (${var.soci_mode}), baked by soci-installer ${var.generator_version}"
  ssh_username      = "ec2-user"
  ssh_interface     = var.ssh_interface
  # session_manager reaches the builder through its SSM agent, which needs an instance profile: without
  # one Packer refuses to start (packer-plugin-amazon builder/common/run_config.go). A temporary one
  # with only Session Manager's actions (those of AWS's AWSCloud9SSMInstanceProfile policy), unless
  # iam_instance_profile names yours.
  iam_instance_profile = var.iam_instance_profile
  dynamic "temporary_iam_instance_profile_policy_document" {
    for_each = var.ssh_interface == "session_manager" && var.iam_instance_profile == "" ? ["session_manager"] : []
    content {
      Version = "2012-10-17"
      Statement {
        Effect   = "Allow"
        Action   = ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
        Resource = ["*"]
      }
    }
  }
  subnet_id         = var.subnet_id
  vpc_id            = var.vpc_id
  security_group_id = var.security_group_id
  imds_support      = "v2.0"
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.volume_size
    volume_type           = "gp3"
    iops                  = 3000 # gp3 baseline
    throughput            = 125  # gp3 baseline, MiB/s
    delete_on_termination = true
  }
  tags          = merge(local.baked_tags, { "soci-installer:arch" = "x86_64" })
  snapshot_tags = merge(local.baked_tags, { "soci-installer:arch" = "x86_64" })
}

source "amazon-ebs" "arm64" {
  region        = var.region
  instance_type = var.instance_types["arm64"]
  source_ami    = var.source_ami_ids["arm64"]
  dynamic "source_ami_filter" {
    for_each = var.source_ami_ids["arm64"] == "" ? ["newest"] : []
    content {
      owners      = ["amazon"]
      most_recent = true
      filters = {
        name                = "amazon-eks-node-al2023-arm64-${var.variant}-${var.kubernetes_version}-v*"
        architecture        = "arm64"
        root-device-type    = "ebs"
        virtualization-type = "hvm"
      }
    }
  }
  ami_name          = local.ami_names["arm64"]
  ami_description   = "EKS AL2023 ${var.kubernetes_version} ${var.variant} with soci-snapshotter (${var.soci_mode}), baked by soci-installer ${var.generator_version}"
  ssh_username      = "ec2-user"
  ssh_interface     = var.ssh_interface
  # session_manager reaches the builder through its SSM agent, which needs an instance profile: without
  # one Packer refuses to start (packer-plugin-amazon builder/common/run_config.go). A temporary one
  # with only Session Manager's actions (those of AWS's AWSCloud9SSMInstanceProfile policy), unless
  # iam_instance_profile names yours.
  iam_instance_profile = var.iam_instance_profile
  dynamic "temporary_iam_instance_profile_policy_document" {
    for_each = var.ssh_interface == "session_manager" && var.iam_instance_profile == "" ? ["session_manager"] : []
    content {
      Version = "2012-10-17"
      Statement {
        Effect   = "Allow"
        Action   = ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
        Resource = ["*"]
      }
    }
  }
  subnet_id         = var.subnet_id
  vpc_id            = var.vpc_id
  security_group_id = var.security_group_id
  imds_support      = "v2.0"
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.volume_size
    volume_type           = "gp3"
    iops                  = 3000 # gp3 baseline
    throughput            = 125  # gp3 baseline, MiB/s
    delete_on_termination = true
  }
  tags          = merge(local.baked_tags, { "soci-installer:arch" = "arm64" })
  snapshot_tags = merge(local.baked_tags, { "soci-installer:arch" = "arm64" })
}
