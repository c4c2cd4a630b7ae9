"""EC2 flavors: instances and EBS volumes."""
