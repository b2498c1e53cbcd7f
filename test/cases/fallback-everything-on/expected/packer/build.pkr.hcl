# soci-installer: upload files/ as `soci-installer render` wrote it (bake.sh alone: install.sh's path
# with the bake's hooks, carrying the files user data writes in its data header) and run bake.sh: it
# installs soci, enables its units, writes the SOCI wiring as /etc/eks/nodeadm.d/50-soci-installer.yaml
# and ends with the EKS cleanup (machine-id, cloud-init state, SSH host keys, logs). Render lists the
# sources: one per architecture the profile serves.

build {
  sources = ["source.amazon-ebs.x86_64", "source.amazon-ebs.arm64"]

  provisioner "shell" {
    inline = ["mkdir -p /tmp/soci-installer"]
  }

  provisioner "file" {
    source      = "${path.root}/files/"
    destination = "/tmp/soci-installer"
  }

  provisioner "shell" {
    inline = [
      "sudo bash /tmp/soci-installer/bake.sh",
      "rm -rf /tmp/soci-installer",
    ]
  }

  post-processor "manifest" {
    output     = "manifest.json"
    strip_path = true
  }
}
