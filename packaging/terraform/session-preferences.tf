# ssm-runas: Session Manager preferences, the instance-role permission and the
# people's policy, as Terraform (hashicorp/aws provider). The same content as
# packaging/cloudformation/session-preferences.yaml; see docs/deployment.md.
#
# An existing console-made document is adopted with
#   terraform import aws_ssm_document.session_preferences SSM-SessionManagerRunShell

variable "landing_user" {
  type    = string
  default = "ssm-landing"
}

variable "instance_role_name" {
  description = "Name of the instances' IAM role (gets ssm:DescribeSessions)."
  type        = string
}

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

resource "aws_ssm_document" "session_preferences" {
  name            = "SSM-SessionManagerRunShell"
  document_type   = "Session"
  document_format = "JSON"
  content = jsonencode({
    schemaVersion = "1.0"
    description   = "Session Manager preferences for ssm-runas"
    sessionType   = "Standard_Stream"
    inputs = {
      s3BucketName                = ""
      s3KeyPrefix                 = ""
      s3EncryptionEnabled         = true
      cloudWatchLogGroupName      = ""
      cloudWatchEncryptionEnabled = true
      cloudWatchStreamingEnabled  = false
      kmsKeyId                    = ""
      idleSessionTimeout          = "20"
      runAsEnabled                = true
      runAsDefaultUser            = var.landing_user
      shellProfile = {
        windows = ""
        linux   = "exec /usr/libexec/ssm-runas/ssm-runas-login"
      }
    }
  })
}

# After a change, check that the latest version is the default one
# (`aws ssm describe-document --name SSM-SessionManagerRunShell
#  --query 'Document.[DefaultVersion,LatestVersion]'`, docs/deployment.md step 4).

# ssm-runasd, [resolver] source = "api": who started the session.
# sts:GetCallerIdentity needs no permission; source = "agent-state" needs none.
resource "aws_iam_role_policy" "ssm_runas_describe_sessions" {
  name = "ssm-runas-describe-sessions"
  role = var.instance_role_name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "SsmRunasDescribeSessions"
      Effect   = "Allow"
      Action   = "ssm:DescribeSessions"
      Resource = "*"
    }]
  })
}

# For the permission sets / roles of the people who open shells: only the
# default document (whose shell profile runs the switch) may be used.
resource "aws_iam_policy" "ssm_runas_start_session" {
  name = "ssm-runas-start-session"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "StartShellWithTheDefaultDocumentOnly"
        Effect = "Allow"
        Action = "ssm:StartSession"
        Resource = [
          "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:instance/*",
          "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:document/SSM-SessionManagerRunShell",
        ]
        Condition = {
          BoolIfExists = { "ssm:SessionDocumentAccessCheck" = "true" }
        }
      },
      {
        Sid      = "OwnSessionsOnly"
        Effect   = "Allow"
        Action   = ["ssm:TerminateSession", "ssm:ResumeSession"]
        Resource = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:session/*"
        Condition = {
          StringLike = { "ssm:resourceTag/aws:ssmmessages:session-id" = "$${aws:userid}" }
        }
      },
    ]
  })
}
