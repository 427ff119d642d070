"""The one path every EC2 and ELBv2 call takes."""
